/* No-op definition of std::ios_base_library_init(), the one GLIBCXX_3.4.32 symbol that
 * TorchSharp's libLibTorchSharp.so names. GCC 13's <iostream> only references it to pull
 * libstdc++'s stream initialiser into the link; nothing calls it. Debian 12's libstdc++
 * (GCC 12) stops at GLIBCXX_3.4.30 and initialises its streams itself, so an empty body is
 * correct there. Loaded RTLD_GLOBAL by LibTorchCompat only where the system lacks the symbol. */
namespace std { void ios_base_library_init() {} }
