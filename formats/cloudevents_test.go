package formats_test

import (
	"testing"

	"github.com/dowserhq/dowser/formats"
)

func TestCloudEvents(t *testing.T) {
	const f = formats.CloudEvents
	structured := func(edits ...func(map[string]any)) formats.Message {
		return sample(t, "cloudevents-structured.json", edits...)
	}
	binary := func(edits ...func(map[string]any)) formats.Message {
		return sample(t, "cloudevents-binary.json", edits...)
	}
	runConvertCases(t, []convertCase{
		{name: "structured defaults", format: f, msg: structured(), want: map[string]string{
			"type": "com.github.pull_request.opened", "id": "A234-1234-1234", "time": "2018-04-05T17:31:00Z",
			"customer_id": "octocat", "anonymous_id": "", "email": "", "account_id": "github", "lifecycle": "",
			"content_id": "123", "url": "https://github.com/cloudevents/spec/pull/123", "title": "Add a Kafka binding",
			"referrer": "", "source": "https://github.com/cloudevents/spec/pull",
		}},
		{name: "binary defaults", format: f, overrides: map[string]string{"customer_id": "userid"}, msg: binary(), want: map[string]string{
			"type": "com.example.orders.placed.v1", "id": "01HZQF3K7T0RPMK6N3CXVQXX2A", "time": "2026-05-22T14:08:17Z",
			"customer_id": "cust_9d23", "account_id": "acme", "content_id": "order-7c1f9a2e", "source": "/services/order-service",
			"currency": "USD",
		}},
		{name: "camel-case names in the data", format: f, msg: structured(set("data.user_id", nil), set("data.userId", "u-1"), set("data.anonymousId", "a-1"), set("data.account_id", nil), set("data.accountId", "acc")),
			want: map[string]string{"customer_id": "u-1", "anonymous_id": "a-1", "account_id": "acc"}},
		{name: "content id from the data first", format: f, msg: structured(set("data.content_id", "spec-page")), want: map[string]string{"content_id": "spec-page"}},
		{name: "a type in capitals", format: f, msg: structured(set("type", "com.Example.PageViewed")), want: map[string]string{"type": "com.example.pageviewed"}},
		{name: "XML data with people in extensions", format: f, overrides: map[string]string{"customer_id": "subject", "anonymous_id": "comexampleextension1"},
			msg: sample(t, "cloudevents-xml.json"), want: map[string]string{"customer_id": "123", "anonymous_id": "value", "url": ""}},
		{name: "override type", format: f, overrides: map[string]string{"type": "data.kind"}, msg: structured(set("data.kind", "PR Opened")), want: map[string]string{"type": "pr_opened"}},
		{name: "override id", format: f, overrides: map[string]string{"id": "subject"}, msg: structured(), want: map[string]string{"id": "123"}},
		{name: "override time", format: f, overrides: map[string]string{"time": "data.at"}, msg: structured(set("data.at", "2018-04-05T18:00:00+01:00")), want: map[string]string{"time": "2018-04-05T17:00:00Z"}},
		{name: "override customer_id", format: f, overrides: map[string]string{"customer_id": "data.author.login"}, msg: structured(set("data.author", map[string]any{"login": "hubot"})), want: map[string]string{"customer_id": "hubot"}},
		{name: "override anonymous_id", format: f, overrides: map[string]string{"anonymous_id": "comexampleextension1"}, msg: structured(), want: map[string]string{"anonymous_id": "value"}},
		{name: "override email", format: f, overrides: map[string]string{"email": "data.mail"}, msg: structured(set("data.mail", "octo@github.example")), want: map[string]string{"email": "octo@github.example"}},
		{name: "override account_id", format: f, overrides: map[string]string{"account_id": "comexampleothervalue"}, msg: structured(), want: map[string]string{"account_id": "5"}},
		{name: "override lifecycle", format: f, overrides: map[string]string{"lifecycle": "data.stage"}, msg: structured(set("data.stage", "customer")), want: map[string]string{"lifecycle": "customer"}},
		{name: "override content_id", format: f, overrides: map[string]string{"content_id": "data.title"}, msg: structured(), want: map[string]string{"content_id": "Add a Kafka binding"}},
		{name: "override url", format: f, overrides: map[string]string{"url": "source"}, msg: structured(), want: map[string]string{"url": "https://github.com/cloudevents/spec/pull"}},
		{name: "override title", format: f, overrides: map[string]string{"title": "subject"}, msg: structured(), want: map[string]string{"title": "123"}},
		{name: "override referrer", format: f, overrides: map[string]string{"referrer": "data.from"}, msg: structured(set("data.from", "https://example.com/")), want: map[string]string{"referrer": "https://example.com/"}},
		{name: "override source", format: f, overrides: map[string]string{"source": "type"}, msg: structured(), want: map[string]string{"source": "com.github.pull_request.opened"}},
		{name: "binary override from the data", format: f, overrides: map[string]string{"customer_id": "data.customerId"}, msg: binary(), want: map[string]string{"customer_id": "cust_9d23"}},
		{name: "no person in the data", format: f, msg: structured(set("data.user_id", nil)),
			wantErr: "cloudevents: data.user_id, data.userId, data.anonymous_id or data.anonymousId is required", wantReason: "missing_field", wantField: "data.user_id"},
		{name: "no person in XML data", format: f, msg: sample(t, "cloudevents-xml.json"),
			wantErr: "cloudevents: data.user_id, data.userId, data.anonymous_id or data.anonymousId is required", wantReason: "missing_field", wantField: "data.user_id"},
		{name: "no id", format: f, msg: structured(set("id", nil)),
			wantErr: "cloudevents: id is required", wantReason: "missing_field", wantField: "id"},
		{name: "no time", format: f, msg: structured(set("time", nil)),
			wantErr: "cloudevents: time is required", wantReason: "missing_field", wantField: "time"},
		{name: "no type", format: f, msg: structured(set("type", nil)),
			wantErr: "cloudevents: type is required", wantReason: "missing_field", wantField: "type"},
		{name: "no source", format: f, msg: structured(set("source", nil)),
			wantErr: "cloudevents: source is required", wantReason: "missing_field", wantField: "source"},
		{name: "no specversion", format: f, msg: structured(set("specversion", nil)),
			wantErr: "cloudevents: specversion is required", wantReason: "missing_field", wantField: "specversion"},
		{name: "another specversion", format: f, msg: structured(set("specversion", "0.3")),
			wantErr: `cloudevents: specversion: "0.3" is not 1.0`, wantReason: "bad_field", wantField: "specversion"},
		{name: "binary without an id header", format: f, overrides: map[string]string{"customer_id": "userid"}, msg: binary(set("ce_id", nil)),
			wantErr: "cloudevents: ce_id header is required", wantReason: "missing_field", wantField: "ce_id header"},
		{name: "binary without a person", format: f, msg: binary(),
			wantErr: "cloudevents: data.user_id, data.userId, data.anonymous_id or data.anonymousId is required", wantReason: "missing_field", wantField: "data.user_id"},
		{name: "binary with a bad time header", format: f, overrides: map[string]string{"customer_id": "userid"}, msg: binary(set("ce_time", "now")),
			wantErr: `cloudevents: ce_time header: "now" is not an RFC 3339 time`, wantReason: "bad_field", wantField: "ce_time header"},
		{name: "binary with another specversion", format: f, msg: binary(set("ce_specversion", "0.3")),
			wantErr: `cloudevents: ce_specversion header: "0.3" is not 1.0`, wantReason: "bad_field", wantField: "ce_specversion header"},
		{name: "binary data that is not JSON", format: f, msg: formats.Message{Value: []byte("{oops"), Headers: []formats.Header{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "content-type", Value: []byte("application/json")}}},
			wantErr: "cloudevents: data: not JSON: invalid character 'o' looking for beginning of object key string", wantReason: "not_json", wantField: "data"},
	})
}
