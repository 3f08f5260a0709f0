"""DICOM for the hospital path: DICOM SEG written and read with highdicom, and the DICOMweb datastore.

- :mod:`.series`: a DICOM series folder's headers, and which volume slice each instance is;
- :mod:`.seg_write`: binary masks on a series' volume grid -> one DICOM SEG (one segment per mask);
- :mod:`.seg_read`: a DICOM SEG -> masks per source instance, segment labels, creator and description;
- :mod:`.label_files`: the app's result files (labelmap, ``.seg.nrrd``) as masks + segment names;
- :mod:`.monailabel_hooks`: MONAI Label's ``output=dicom_seg`` converter replaced by :mod:`.seg_write`
  (MONAI Label would run dcmqi's ``itkimage2segimage``, downloaded at start-up: no network needed now);
- :mod:`.datastore`: the DICOMweb datastore storing every reader's label back to the PACS as a SEG.
"""
