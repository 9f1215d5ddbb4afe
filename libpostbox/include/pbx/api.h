// Symbol visibility of the public API: libpostbox.so exports only what carries PBX_API.
#pragma once

#if defined(__GNUC__)
#define PBX_API __attribute__((visibility("default")))
#else
#define PBX_API
#endif
