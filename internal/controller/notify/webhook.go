package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// WebhookConfig is one Standard Webhooks v1 endpoint.
type WebhookConfig struct {
	// Name identifies the target in delivery ids (default "webhook").
	Name string
	URL  string
	// Secrets sign every request ("whsec_" + base64, or any string used as
	// raw bytes). Several: one signature each, so secrets rotate without
	// downtime. Never logged.
	Secrets []string
	// ExternalURL links to incidents in payloads.
	ExternalURL string
}

type webhook struct {
	name, url string
	links     linker
	keys      [][]byte
}

func newWebhook(c WebhookConfig, links linker) (*webhook, error) {
	if c.Name == "" {
		c.Name = "webhook"
	}
	if _, err := validURL("webhook "+c.Name, c.URL); err != nil {
		return nil, err
	}
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("notify: webhook %s: at least one secret is required", c.Name)
	}
	links.external = c.ExternalURL
	w := &webhook{name: c.Name, url: c.URL, links: links}
	for _, s := range c.Secrets {
		k, err := WebhookKey(s)
		if err != nil {
			return nil, fmt.Errorf("notify: webhook %s: %w", c.Name, err)
		}
		w.keys = append(w.keys, k)
	}
	return w, nil
}

// WebhookKey decodes a secret: "whsec_" + base64 (Standard Webhooks), else
// the string's bytes.
func WebhookKey(secret string) ([]byte, error) {
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("secret with whsec_ prefix is not base64")
		}
		return k, nil
	}
	if secret == "" {
		return nil, fmt.Errorf("empty secret")
	}
	return []byte(secret), nil
}

// WebhookSign is the v1 signature of a message with one key.
func WebhookSign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (w *webhook) Name() string        { return w.name }
func (w *webhook) DisableOnGone() bool { return true }

// WebhookBody is the Standard Webhooks payload.
type WebhookBody struct {
	Type      string       `json:"type"`
	Timestamp time.Time    `json:"timestamp"`
	Data      IncidentData `json:"data"`
}

func (w *webhook) Request(ctx context.Context, ev *mxv1.NotificationEvent, now time.Time) (*http.Request, error) {
	body, err := json.Marshal(WebhookBody{Type: ev.GetType(), Timestamp: ev.GetAt().AsTime().UTC(), Data: w.links.data(ev.GetIncident())})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := now.Unix()
	sigs := make([]string, len(w.keys))
	for i, k := range w.keys {
		sigs[i] = WebhookSign(k, ev.GetId(), ts, body)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mxprobe-notify/1")
	req.Header.Set("webhook-id", ev.GetId())
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", strings.Join(sigs, " "))
	return req, nil
}
