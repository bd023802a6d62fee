package certread

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Decoders of the two binary blobs Windows hands the agent about a
// certificate's key: CRYPT_KEY_PROV_INFO (CERT_KEY_PROV_INFO_PROP_ID) and a
// self-relative SECURITY_DESCRIPTOR (the key's DACL). They read bytes only,
// never follow a pointer outside the blob, and build on every platform, so
// they are fuzzed on Linux; windows_syscall.go only fetches the blobs.

// errBadBlob marks a blob that does not decode.
var errBadBlob = errors.New("malformed blob")

// parseKeyProvInfoBlob reads the container and provider names of a
// CRYPT_KEY_PROV_INFO that crypt32 returned in buf, which it placed at
// address base in memory: the structure's string fields are pointers into
// the same buffer. ptrSize is the pointer size of the process (4 or 8). A
// pointer outside buf, or a string without its terminating NUL inside buf,
// is an error, never a read elsewhere.
func parseKeyProvInfoBlob(buf []byte, base uint64, ptrSize int) (container, provider string, err error) {
	if ptrSize != 4 && ptrSize != 8 {
		return "", "", fmt.Errorf("%w: pointer size %d", errBadBlob, ptrSize)
	}
	// ContainerName, ProvName (pointers), then ProvType, Flags, ProvParam,
	// the rgProvParam pointer (aligned) and KeySpec.
	if len(buf) < 2*ptrSize+12 {
		return "", "", fmt.Errorf("%w: CRYPT_KEY_PROV_INFO of %d bytes", errBadBlob, len(buf))
	}
	ptr := func(off int) uint64 {
		if ptrSize == 8 {
			return binary.LittleEndian.Uint64(buf[off:])
		}
		return uint64(binary.LittleEndian.Uint32(buf[off:]))
	}
	str := func(p uint64, what string) (string, error) {
		if p == 0 {
			return "", nil
		}
		if p < base || p-base >= uint64(len(buf)) {
			return "", fmt.Errorf("%w: %s points outside the blob", errBadBlob, what)
		}
		return utf16z(buf[p-base:], what)
	}
	if container, err = str(ptr(0), "container name"); err != nil {
		return "", "", err
	}
	if provider, err = str(ptr(ptrSize), "provider name"); err != nil {
		return "", "", err
	}
	return container, provider, nil
}

// utf16z decodes a NUL-terminated UTF-16LE string at the start of b.
func utf16z(b []byte, what string) (string, error) {
	var units []uint16
	for i := 0; i+1 < len(b); i += 2 {
		u := binary.LittleEndian.Uint16(b[i:])
		if u == 0 {
			return string(utf16.Decode(units)), nil
		}
		units = append(units, u)
	}
	return "", fmt.Errorf("%w: %s is not NUL-terminated inside the blob", errBadBlob, what)
}

// Security descriptor layout (self-relative form).
const (
	sdRevision            = 1
	sdHeaderSize          = 20
	sdControlDACL         = 0x0004 // SE_DACL_PRESENT
	sdControlSelfRelative = 0x8000 // SE_SELF_RELATIVE
	aclHeaderSize         = 8
	aceHeaderSize         = 4
)

// parseSecurityDescriptorBlob decodes the DACL of a self-relative security
// descriptor: no DACL, or a NULL one, is KeyACL{Null: true} (unrestricted);
// every ACE is recorded, with its SID for the access-allowed and
// access-denied types (the others are ignored by EvaluateKeyRead).
func parseSecurityDescriptorBlob(buf []byte) (KeyACL, error) {
	if len(buf) < sdHeaderSize {
		return KeyACL{}, fmt.Errorf("security descriptor too short (%d bytes)", len(buf))
	}
	if buf[0] != sdRevision {
		return KeyACL{}, fmt.Errorf("invalid security descriptor: revision %d", buf[0])
	}
	control := binary.LittleEndian.Uint16(buf[2:])
	if control&sdControlSelfRelative == 0 {
		return KeyACL{}, errors.New("invalid security descriptor: not self-relative")
	}
	if control&sdControlDACL == 0 {
		return KeyACL{Null: true}, nil
	}
	off := binary.LittleEndian.Uint32(buf[16:])
	if off == 0 {
		return KeyACL{Null: true}, nil
	}
	if uint64(off)+aclHeaderSize > uint64(len(buf)) {
		return KeyACL{}, fmt.Errorf("reading DACL: %w: offset %d beyond %d bytes", errBadBlob, off, len(buf))
	}
	acl := buf[off:]
	size := int(binary.LittleEndian.Uint16(acl[2:]))
	count := int(binary.LittleEndian.Uint16(acl[4:]))
	if size < aclHeaderSize || size > len(acl) {
		return KeyACL{}, fmt.Errorf("reading DACL: %w: ACL size %d, %d bytes left", errBadBlob, size, len(acl))
	}
	acl = acl[:size]
	// Every ACE takes at least its header: a count the size cannot hold is
	// refused before anything is allocated for it.
	if count > (size-aclHeaderSize)/aceHeaderSize {
		return KeyACL{}, fmt.Errorf("reading DACL: %w: %d ACEs in %d bytes", errBadBlob, count, size)
	}
	out := KeyACL{ACEs: make([]ACE, 0, count)}
	pos := aclHeaderSize
	for i := range count {
		if pos+aceHeaderSize > len(acl) {
			return KeyACL{}, fmt.Errorf("GetAce(%d): %w: truncated", i, errBadBlob)
		}
		aceSize := int(binary.LittleEndian.Uint16(acl[pos+2:]))
		if aceSize < aceHeaderSize || pos+aceSize > len(acl) {
			return KeyACL{}, fmt.Errorf("GetAce(%d): %w: ACE size %d", i, errBadBlob, aceSize)
		}
		ace := acl[pos : pos+aceSize]
		a := ACE{Type: ace[0], Flags: ace[1]}
		if a.Type == AceTypeAccessAllowed || a.Type == AceTypeAccessDenied {
			if len(ace) < aceHeaderSize+4 {
				return KeyACL{}, fmt.Errorf("GetAce(%d): %w: no access mask", i, errBadBlob)
			}
			a.Mask = binary.LittleEndian.Uint32(ace[4:])
			sid, err := sidString(ace[8:])
			if err != nil {
				return KeyACL{}, fmt.Errorf("GetAce(%d): %w", i, err)
			}
			a.SID = sid
		} else if len(ace) >= aceHeaderSize+4 {
			a.Mask = binary.LittleEndian.Uint32(ace[4:])
		}
		out.ACEs = append(out.ACEs, a)
		pos += aceSize
	}
	return out, nil
}

// sidString renders a binary SID as ConvertSidToStringSid does:
// S-1-<authority>-<sub>..., the authority in hex when it needs over 32 bits.
func sidString(b []byte) (string, error) {
	if len(b) < 8 || b[0] != 1 {
		return "", fmt.Errorf("%w: SID", errBadBlob)
	}
	n := int(b[1])
	if n > 15 || len(b) < 8+4*n { // SID_MAX_SUB_AUTHORITIES
		return "", fmt.Errorf("%w: SID with %d sub-authorities in %d bytes", errBadBlob, n, len(b))
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	var s strings.Builder
	s.WriteString("S-1-")
	if auth >= 1<<32 {
		fmt.Fprintf(&s, "0x%012X", auth)
	} else {
		s.WriteString(strconv.FormatUint(auth, 10))
	}
	for i := range n {
		s.WriteByte('-')
		s.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return s.String(), nil
}
