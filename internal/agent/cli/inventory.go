package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/agent/powershell"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// ErrInventoryUnsupported: inventory export needs an Exchange server.
var ErrInventoryUnsupported = errors.New("agent inventory export runs on an Exchange server (Windows with the Exchange Management Shell); elsewhere export the inventory there and pass it with --exchange-inventory")

func inventoryCmd(stdout io.Writer) *cobra.Command {
	inv := &cobra.Command{Use: "inventory", Short: "Exchange inventory (connectors and certificate store) of this server"}
	export := &cobra.Command{
		Use:   "export",
		Short: "Collect the Exchange connector inventory and a snapshot of the certificate store into files (Windows)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			storeOut, _ := cmd.Flags().GetString("store-out")
			store, _ := cmd.Flags().GetString("store")
			if out == "" {
				return fmt.Errorf("--out FILE is required")
			}
			if storeOut == "" {
				storeOut = strings.TrimSuffix(out, filepath.Ext(out)) + "-certstore.json"
			}
			ctx := cmd.Context()
			x, err := exchcollect.Collect(ctx, powershell.Options{})
			if err != nil {
				if errors.Is(err, powershell.ErrUnsupported) {
					return fmt.Errorf("%w: %w", ErrInventoryUnsupported, err)
				}
				return fmt.Errorf("inventory export: %w", err)
			}
			st, err := certread.Open(store, certstore.Options{})
			if err != nil {
				return fmt.Errorf("inventory export: %w", err)
			}
			si, err := st.Read(ctx)
			if err != nil {
				return fmt.Errorf("inventory export: %w", err)
			}
			if err := writeFileAtomic(out, func(w io.Writer) error { return exchange.WriteConfig(w, x) }); err != nil {
				return err
			}
			if err := writeFileAtomic(storeOut, func(w io.Writer) error { return certread.WriteSnapshot(w, si) }); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s (%d send, %d receive connectors) and %s (%d certificates)\nuse: agent check --exchange-inventory %s --cert-store snapshot:%s\n",
				out, len(x.SendConnectors), len(x.ReceiveConnectors), storeOut, len(si.Certificates), out, storeOut)
			return nil
		},
	}
	export.Flags().String("out", "", "inventory file to write (docs/exchange-inventory.md)")
	export.Flags().String("store-out", "", "certificate store snapshot to write (default: OUT without extension + -certstore.json)")
	export.Flags().String("store", checks.DefaultWindowsStore, "certificate store to snapshot")
	inv.AddCommand(export)
	return inv
}

// writeFileAtomic writes via a temp file in the same directory and renames it.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
