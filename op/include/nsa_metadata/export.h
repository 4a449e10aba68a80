// Symbol visibility: the library is built with hidden visibility, and only
// what carries NSA_METADATA_API is part of its binary interface.
#pragma once

#if defined(_WIN32)
#if defined(NSA_METADATA_BUILDING)
#define NSA_METADATA_API __declspec(dllexport)
#else
#define NSA_METADATA_API __declspec(dllimport)
#endif
#else
#define NSA_METADATA_API __attribute__((visibility("default")))
#endif
