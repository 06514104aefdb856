"""Identity: who a face is across tracks (re-identification), for recognition switched on.

Owns the face descriptor (dlib's ResNet on a chip aligned from our MediaPipe landmarks,
descriptor.py), the person gallery in memory with its matching rules (gallery.py), the
gallery file (store.py), the per-person FaceVerse coefficient model (person_model.py) and
the background thread that computes descriptors in batches (recognizer.py), enrolment
(enroll.py) and person id strings (person_ids.py).
May import: landmarks (the landmark indices), core, runtime, numpy, OpenCV, dlib (lazily,
optional). Never tracking, views, io or ros.
"""
