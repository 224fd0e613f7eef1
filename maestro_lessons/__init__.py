"""A course you can run: deep learning for symbolic music, from a MIDI file to a composer classifier and a music generator

Modules:

- `maestro_lessons.encodings`: Five ways to turn a piece into numbers a network can read, exactly what each one keeps, and how to normalise and augment the pieces before training."""

__version__ = "0.1.0"
