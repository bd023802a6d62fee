/*
 * bcryptprimitives.dll for running mxprobe's Windows binaries under Wine 8,
 * in tests only. Not shipped, not installed on any Windows machine.
 *
 * What it replaces: Windows' own bcryptprimitives.dll. Go 1.22+ binaries
 * load ProcessPrng from it at start (the runtime's source of random bytes);
 * Wine 8 has no such DLL, so every Go program dies with
 * "bcryptprimitives.dll not found" before main.
 *
 * What it does: exports ProcessPrng and forwards to advapi32's
 * SystemFunction036 (RtlGenRandom), which Wine implements by reading the
 * host's /dev/urandom. Nothing else is exported.
 *
 * Why it is safe for tests only: the random bytes come from the Linux
 * kernel's CSPRNG through Wine, which is fine for a test run, but this DLL
 * exists solely in a scratch Wine prefix that scripts/wine/prepare.sh
 * creates under bin/ (git-ignored). Real Windows has its own
 * bcryptprimitives.dll and never sees this file.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -shared -nostdlib
 *        -Wl,-e,DllMainCRTStartup -o bcryptprimitives.dll
 *        bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* No C runtime: the entry point only says "loaded". */
BOOL WINAPI DllMainCRTStartup(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance; (void)reason; (void)reserved;
    return TRUE;
}

/* BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): fill pbData with cbData
 * random bytes. SystemFunction036 takes a ULONG length, so large requests
 * are split. Returns TRUE, as Windows' ProcessPrng always does, unless the
 * underlying call fails. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG n = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}
