package cli

import (
	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/controller/notify"
)

// notifyConfig maps the notify.* settings (issue 6).
func notifyConfig(c config.Controller) notify.Config {
	k := c.Notify
	out := notify.Config{
		AllowPrivate: k.AllowPrivate, ExternalURL: k.ExternalURL, Timeout: k.Timeout, MaxAttempts: k.MaxAttempts,
		BackoffBase: k.BackoffBase, BackoffMax: k.BackoffMax,
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
		out.Alertmanager = &notify.AlertmanagerConfig{URL: k.Alertmanager.URL, ResendInterval: k.Alertmanager.ResendInterval}
	}
	return out
}
