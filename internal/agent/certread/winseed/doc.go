// Package winseed puts certificates (and their private keys) into real
// Windows system certificate stores through crypt32, for tests that read
// them back with certstore's windows: backend (on Windows, and on Linux under
// Wine: docs/wine.md). It is test support: nothing in the agent imports it.
//
// Each test gets its own system store (NewStore: LocalMachine\mxprobe-test-N
// under a random N) that Close deletes together with every key container
// the test created, so tests run in parallel and leave a real machine as it
// was.
//
// Keys go in three ways, matching how they reach servers:
//   - ImportPFX: PFXImportCertStore (CRYPT_MACHINE_KEYSET or the user's
//     keyset, optionally PKCS12_ALWAYS_CNG_KSP), as Import-PfxCertificate does;
//   - AddWithCAPIKey: an RSA key imported into its own container of the
//     Microsoft Enhanced Cryptographic Provider, linked to the certificate
//     by CERT_KEY_PROV_INFO_PROP_ID, as certreq/older tools do;
//   - AddWithProvInfo: any CERT_KEY_PROV_INFO (for a key that does not
//     exist, or a CNG provider), to test what the agent says about it.
//
// What Wine 8 does differently is written next to each function and in
// docs/wine.md.
package winseed
