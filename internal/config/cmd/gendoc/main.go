// Command gendoc writes docs/configuration.md to stdout.
package main

import (
	"fmt"
	"os"

	"github.com/mxprobe/mxprobe/internal/config"
)

func main() {
	if err := config.WriteMarkdown(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
