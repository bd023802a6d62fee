package diagnose

import (
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// StoreUnreadable is the finding for a store that could not be opened or read.
func StoreUnreadable(uri string, err error, o Options) *mxv1.Finding {
	o = o.WithDefaults()
	return finding.New(finding.CertStoreUnreadable, mxv1.SubjectKind_SUBJECT_KIND_LOCATION, uri,
		fmt.Sprintf("Certificate store %s on %s cannot be read: %s", uri, o.Host, text.Clip(errText(err), 200)),
		map[string]string{"store": uri, "error": text.Clip(errText(err), 500)},
		fmt.Sprintf("Check that %s exists on %s and that the agent's account may read it (for windows: stores, run the agent as LocalSystem).", uri, o.Host))
}
