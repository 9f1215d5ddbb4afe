# Installation: filled in by the library and tools targets.
