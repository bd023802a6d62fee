// Command gendoc writes docs/findings.md from the finding catalog to stdout.
package main

import (
	"fmt"
	"os"

	"github.com/mxprobe/mxprobe/internal/finding"
)

func main() {
	if err := finding.Default().WriteMarkdown(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
