package cli

import (
	"fmt"
	"strings"

	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
)

// notifyConfig maps the notify.* settings.
func notifyConfig(c config.Controller) (notify.Config, error) {
	k := c.Notify
	out := notify.Config{
		AllowPrivate: k.AllowPrivate, ExternalURL: k.ExternalURL, RunbookURL: k.RunbookURL, Timeout: k.Timeout, RetryFor: k.RetryFor,
		MaxAttempts: k.MaxAttempts, BackoffBase: k.BackoffBase, BackoffMax: k.BackoffMax,
	}
	if k.Webhook.URL != "" {
		out.Webhooks = []notify.WebhookConfig{{Name: "webhook", URL: k.Webhook.URL, Secrets: k.Webhook.Secrets}}
	}
	if k.PagerDuty.RoutingKey != "" {
		out.PagerDuty = &notify.PagerDutyConfig{URL: k.PagerDuty.URL, RoutingKey: k.PagerDuty.RoutingKey}
	}
	if k.ServiceNow.URL != "" {
		out.ServiceNow = &notify.ServiceNowConfig{URL: k.ServiceNow.URL, Username: k.ServiceNow.Username, Password: k.ServiceNow.Password, Source: k.ServiceNow.Source,
			Mode: k.ServiceNow.Mode, CloseCode: k.ServiceNow.CloseCode, AssignmentGroup: k.ServiceNow.AssignmentGroup}
	}
	if k.Alertmanager.URL != "" {
		labels := map[string]string{}
		for _, kv := range k.Alertmanager.Labels {
			name, value, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(name) == "" {
				return out, fmt.Errorf("notify.alertmanager.labels: %q is not name=value", kv)
			}
			labels[strings.TrimSpace(name)] = strings.TrimSpace(value)
		}
		out.Alertmanager = &notify.AlertmanagerConfig{URL: k.Alertmanager.URL, ResendInterval: k.Alertmanager.ResendInterval, Labels: labels}
	}
	return out, nil
}
