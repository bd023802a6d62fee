// Package dane matches TLSA records (RFC 6698, RFC 7671) against certificate
// chains the way an SMTP client doing opportunistic DANE does (RFC 7672),
// and recognises the DANE results Exchange Online writes into its NDRs.
//
// The TLSA records come from DNS (github.com/miekg/dns parses them); this
// package does only what the DNS library cannot: decide which records are
// usable for SMTP and whether a chain matches them.
//
//   - Usages: DANE-TA(2) and DANE-EE(3) are usable for SMTP. PKIX-TA(0) and
//     PKIX-EE(1) are not (RFC 7672 section 3.1.3): an SMTP client treats them
//     as unusable, so a set made only of them gives no authentication.
//   - Selectors: full certificate(0) and SubjectPublicKeyInfo(1).
//   - Matching types: exact(0), SHA2-256(1), SHA2-512(2).
//   - DANE-EE(3) matches the leaf; no name check and no validity period
//     apply (RFC 7672 section 3.1.1).
//   - DANE-TA(2) matches a certificate of the presented chain above the leaf;
//     the leaf must then chain to it and carry the MX host name (RFC 7672
//     section 3.1.2), and the usual validity periods apply.
//
// MatchChain is the check against a live chain; MatchCertificate answers
// "does this TLSA set match certificate X (with these intermediates)", which
// the renewal pre-flight asks of the next certificate before it is installed.
package dane
