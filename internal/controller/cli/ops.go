package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/controller/dirlock"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// opsCmds: backup, restore (online, admin token) and recover (offline).
func opsCmds(stdout io.Writer) []*cobra.Command {
	backup := &cobra.Command{
		Use:   "backup",
		Short: "Save the cluster state (taken on the leader) to a file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			body, err := rawCall(cmd, http.MethodGet, "/v1/cluster/backup", nil)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, body, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "backup written to %s (%d bytes)\n", out, len(body))
			return nil
		},
	}
	backup.Flags().String("out", "mxprobe-backup.pb", "file to write")
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the cluster state with a backup (send to the leader of a new or emptied cluster)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if _, err := rawCall(cmd, http.MethodPost, "/v1/cluster/restore", b); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "state restored from %s\n", args[0])
			return nil
		},
	}
	recover := &cobra.Command{
		Use:   "recover",
		Short: "Offline: rewrite a stopped node's raft configuration after a lost quorum (run on every surviving node with the same --peers file, then start them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dataDir, _ := cmd.Flags().GetString("data-dir")
			nodeID, _ := cmd.Flags().GetString("node-id")
			peersFile, _ := cmd.Flags().GetString("peers")
			b, err := os.ReadFile(peersFile)
			if err != nil {
				return err
			}
			var peers []struct {
				ID      string `json:"id"`
				Address string `json:"address"`
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&peers); err != nil {
				return fmt.Errorf("%s: want a JSON array of {\"id\", \"address\"}: %w", peersFile, err)
			}
			var servers []raft.Server
			for _, p := range peers {
				if p.ID == "" || p.Address == "" {
					return fmt.Errorf("%s: every peer needs id and address (the raft address)", peersFile)
				}
				servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address), Suffrage: raft.Voter})
			}
			lock, err := dirlock.Acquire(cmd.Context(), dataDir, dirlock.DefaultTimeout)
			if err != nil {
				return fmt.Errorf("recover needs the node stopped: %w", err)
			}
			defer lock.Release()
			if err := store.Recover(dataDir, nodeID, servers, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "raft configuration of %s in %s rewritten to %d servers; start the nodes now\n", nodeID, dataDir, len(servers))
			return nil
		},
	}
	recover.Flags().String("data-dir", "", "the stopped node's data_dir")
	recover.Flags().String("node-id", "", "the node's node_id")
	recover.Flags().String("peers", "peers.json", `JSON array of the surviving voters: [{"id":"c1","address":"c1.example:7402"}]`)
	for _, c := range []*cobra.Command{backup, restore} {
		addServerFlag(c)
	}
	return []*cobra.Command{backup, restore, recover}
}

// rawCall sends a request with the client's token and TLS settings and
// returns the body of a 200 answer.
func rawCall(cmd *cobra.Command, method, path string, body []byte) ([]byte, error) {
	srv, err := serverOf(cmd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if tok := flagOrEnv(cmd, "token", "MXPROBE_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	hc, err := httpClient(cmd)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, srv.explain(method, path, err)
	}
	defer resp.Body.Close()
	if err := srv.checkResponse(method, path, resp); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}
