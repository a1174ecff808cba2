package formats_test

import (
	"testing"

	"github.com/dowserhq/dowser/formats"
)

func TestSnowplow(t *testing.T) {
	const f = formats.Snowplow
	pv := func(edits ...func(map[string]any)) formats.Message {
		return sample(t, "snowplow-page-view.json", edits...)
	}
	click := func(edits ...func(map[string]any)) formats.Message {
		return sample(t, "snowplow-link-click.json", edits...)
	}
	runConvertCases(t, []convertCase{
		{name: "page view defaults", format: f, msg: pv(), want: map[string]string{
			"type": "page_view", "id": "c6ef3124-b53a-4b13-a233-0088f79dcbcb", "time": "2013-11-26T00:03:57.886Z",
			"customer_id": "jon.doe@email.com", "anonymous_id": "bc2e92ec6c204a14", "email": "", "account_id": "",
			"lifecycle": "", "content_id": "", "url": "http://www.snowplowanalytics.com", "title": "On Analytics",
			"referrer": "http://www.google.com/", "source": "angry-birds",
		}},
		{name: "self-describing event", format: f, msg: click(), want: map[string]string{
			"type": "link_click", "time": "2013-11-26T00:03:57.885Z", "customer_id": "", "anonymous_id": "bc2e92ec6c204a14",
			"targetUrl": "http://www.example.com", "elementId": "exampleLink", "url": "http://www.snowplowanalytics.com/product/index.html",
		}},
		{name: "structured event", format: f, msg: sample(t, "snowplow-struct.json"), want: map[string]string{
			"type": "play", "customer_id": "u-7", "se_category": "Mixes", "se_label": "MRC/fabric-0503-mix", "source": "shop",
		}},
		{name: "type from event without event_name", format: f, msg: pv(set("event_name", nil)), want: map[string]string{"type": "page_view"}},
		{name: "time falls back to collector_tstamp", format: f, msg: pv(set("derived_tstamp", nil)), want: map[string]string{"time": "2013-11-26T00:03:57.885Z"}},
		{name: "anonymous id falls back to network_userid", format: f, msg: pv(set("domain_userid", nil)), want: map[string]string{"anonymous_id": "ecdff4d0-9175-40ac-a8bb-325c49733607"}},
		{name: "source is the format without app_id", format: f, msg: pv(set("app_id", nil)), want: map[string]string{"source": "snowplow"}},
		{name: "override type", format: f, overrides: map[string]string{"type": "se_category"}, msg: sample(t, "snowplow-struct.json"), want: map[string]string{"type": "mixes"}},
		{name: "override id", format: f, overrides: map[string]string{"id": "event_fingerprint"}, msg: pv(), want: map[string]string{"id": "e3dbfa9cca0412c3d4052863cefb547f"}},
		{name: "override time", format: f, overrides: map[string]string{"time": "dvce_created_tstamp"}, msg: pv(), want: map[string]string{"time": "2013-11-26T00:03:57.885Z"}},
		{name: "override customer_id", format: f, overrides: map[string]string{"customer_id": "user_fingerprint"}, msg: pv(), want: map[string]string{"customer_id": "2161814971"}},
		{name: "override anonymous_id", format: f, overrides: map[string]string{"anonymous_id": "domain_sessionid"}, msg: pv(), want: map[string]string{"anonymous_id": "2b15e5c8-d3b1-11e4-b9d6-1681e6b88ec1"}},
		{name: "override email", format: f, overrides: map[string]string{"email": "user_id"}, msg: pv(), want: map[string]string{"email": "jon.doe@email.com"}},
		{name: "override account_id from a context", format: f, overrides: map[string]string{"account_id": "contexts_com_acme_user_1.0.accountId"}, msg: click(), want: map[string]string{"account_id": "acme"}},
		{name: "override lifecycle", format: f, overrides: map[string]string{"lifecycle": "contexts_com_acme_user_1.0.stage"}, msg: click(func(d map[string]any) {
			d["contexts_com_acme_user_1"].([]any)[0].(map[string]any)["stage"] = "prospect"
		}), want: map[string]string{"lifecycle": "prospect"}},
		{name: "override content_id", format: f, overrides: map[string]string{"content_id": "contexts_org_schema_web_page_1.0.genre"}, msg: pv(), want: map[string]string{"content_id": "blog"}},
		{name: "override url", format: f, overrides: map[string]string{"url": "page_urlpath"}, msg: pv(), want: map[string]string{"url": "/product/index.html"}},
		{name: "override title", format: f, overrides: map[string]string{"title": "contexts_org_schema_web_page_1.0.author"}, msg: pv(), want: map[string]string{"title": "Fred Blundun"}},
		{name: "override referrer", format: f, overrides: map[string]string{"referrer": "page_urlhost"}, msg: pv(), want: map[string]string{"referrer": "www.snowplowanalytics.com"}},
		{name: "override source", format: f, overrides: map[string]string{"source": "platform"}, msg: pv(), want: map[string]string{"source": "web"}},
		{name: "no person", format: f, msg: pv(set("user_id", nil), set("domain_userid", nil), set("network_userid", nil)),
			wantErr: "snowplow: user_id, domain_userid or network_userid is required", wantReason: "missing_field", wantField: "user_id"},
		{name: "no event_id", format: f, msg: pv(set("event_id", nil)),
			wantErr: "snowplow: event_id is required", wantReason: "missing_field", wantField: "event_id"},
		{name: "no time", format: f, msg: pv(set("derived_tstamp", nil), set("collector_tstamp", nil)),
			wantErr: "snowplow: derived_tstamp or collector_tstamp is required", wantReason: "missing_field", wantField: "derived_tstamp"},
		{name: "no type", format: f, msg: pv(set("event_name", nil), set("event", nil)),
			wantErr: "snowplow: event_name or event is required", wantReason: "missing_field", wantField: "event_name"},
		{name: "a structured event without an action", format: f, msg: sample(t, "snowplow-struct.json", set("se_action", nil)),
			wantErr: "snowplow: se_action is required", wantReason: "missing_field", wantField: "se_action"},
		{name: "overridden account missing is no error", format: f, overrides: map[string]string{"account_id": "contexts_com_acme_user_1.3.accountId"}, msg: click(), want: map[string]string{"account_id": ""}},
		{name: "a bad time", format: f, msg: pv(set("derived_tstamp", "26/11/2013")),
			wantErr: `snowplow: derived_tstamp: "26/11/2013" is not an RFC 3339 time`, wantReason: "bad_field", wantField: "derived_tstamp"},
		{name: "an event id that is a list", format: f, msg: pv(set("event_id", []any{"a"})),
			wantErr: "snowplow: event_id: expected a string, got JSON array", wantReason: "bad_field", wantField: "event_id"},
	})
}
