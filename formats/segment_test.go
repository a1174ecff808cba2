package formats_test

import (
	"encoding/json"
	"testing"

	"github.com/dowserhq/dowser/formats"
)

func TestSegment(t *testing.T) {
	const f = formats.Segment
	track := func(edits ...func(map[string]any)) formats.Message { return sample(t, "segment-track.json", edits...) }
	runConvertCases(t, []convertCase{
		// Every default, on the spec's own examples.
		{name: "track defaults", format: f, msg: track(), want: map[string]string{
			"type": "course_clicked", "id": "ajs-f8ca1e4de5024d9430b3928bd8ac6b96", "time": "2015-12-12T19:11:01.249Z",
			"customer_id": "AiUGstSDIg", "anonymous_id": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
			"email": "peter@initech.com", "account_id": "acme", "lifecycle": "", "content_id": "",
			"url": "https://segment.com/academy/", "title": "Intro to Analytics", "referrer": "", "source": "segment",
			"plan": "Pro Annual",
		}},
		{name: "page defaults", format: f, msg: sample(t, "segment-page.json"), want: map[string]string{
			"type": "page_view", "id": "022bb90c-bbac-11e4-8dfc-aa07a5b093db", "time": "2015-02-23T22:28:55.111Z",
			"customer_id": "97980cfea0067", "anonymous_id": "507f191e810c19729de860ea", "account_id": "",
			"url": "http://www.example.com", "title": "Welcome | Initech", "referrer": "https://www.google.com/", "name": "Home",
		}},
		{name: "identify defaults", format: f, msg: sample(t, "segment-identify.json"), want: map[string]string{
			"type": "identify", "id": "ajs-18c6f23382e31fad89210c1c022cc068", "time": "2019-06-21T16:33:26.06Z",
			"customer_id": "97980cfea0067", "email": "peter@initech.com", "plan": "premium", "url": "index.html", "title": "",
		}},
		{name: "group defaults", format: f, msg: sample(t, "segment-group.json"), want: map[string]string{
			"type": "group", "account_id": "0e8c78ea9d97a7b8185e8632", "customer_id": "97980cfea0067", "industry": "Technology",
		}},
		{name: "screen", format: f, msg: sample(t, "segment-page.json", set("type", "screen")), want: map[string]string{"type": "screen_view", "name": "Home"}},
		// Each fallback of a default.
		{name: "time falls back to originalTimestamp", format: f, msg: track(set("timestamp", nil)), want: map[string]string{"time": "2015-12-12T19:11:01.152Z"}},
		{name: "time falls back to sentAt", format: f, msg: track(set("timestamp", nil), set("originalTimestamp", nil)), want: map[string]string{"time": "2015-12-12T19:11:01.169Z"}},
		{name: "time falls back to receivedAt", format: f, msg: track(set("timestamp", nil), set("originalTimestamp", nil), set("sentAt", nil)), want: map[string]string{"time": "2015-12-12T19:11:01.266Z"}},
		{name: "title falls back to the page's", format: f, msg: track(set("properties.title", nil)), want: map[string]string{"title": "Analytics Academy"}},
		{name: "anonymous only", format: f, msg: track(set("userId", nil)), want: map[string]string{"customer_id": "", "anonymous_id": "23adfd82-aa0f-45a7-a756-24f2a7a4c895"}},
		{name: "a numeric userId as written", format: f, msg: sample(t, "segment-page.json", set("userId", json.Number("12345678901234567890"))), want: map[string]string{"customer_id": "12345678901234567890"}},
		{name: "email from traits", format: f, msg: sample(t, "segment-identify.json"), want: map[string]string{"email": "peter@initech.com"}},
		// Each override.
		{name: "override type", format: f, overrides: map[string]string{"type": "properties.plan"}, msg: track(), want: map[string]string{"type": "pro_annual"}},
		{name: "override id", format: f, overrides: map[string]string{"id": "anonymousId"}, msg: track(), want: map[string]string{"id": "23adfd82-aa0f-45a7-a756-24f2a7a4c895"}},
		{name: "override time", format: f, overrides: map[string]string{"time": "receivedAt"}, msg: track(), want: map[string]string{"time": "2015-12-12T19:11:01.266Z"}},
		{name: "override customer_id", format: f, overrides: map[string]string{"customer_id": "context.traits.email"}, msg: track(), want: map[string]string{"customer_id": "peter@initech.com"}},
		{name: "override anonymous_id", format: f, overrides: map[string]string{"anonymous_id": "context.ip"}, msg: track(), want: map[string]string{"anonymous_id": "108.0.78.21"}},
		{name: "override email", format: f, overrides: map[string]string{"email": "properties.contact"}, msg: track(set("properties.contact", "ana@acme.example")), want: map[string]string{"email": "ana@acme.example"}},
		{name: "override account_id", format: f, overrides: map[string]string{"account_id": "properties.plan"}, msg: track(), want: map[string]string{"account_id": "Pro Annual"}},
		{name: "override lifecycle", format: f, overrides: map[string]string{"lifecycle": "properties.stage"}, msg: track(set("properties.stage", "customer")), want: map[string]string{"lifecycle": "customer"}},
		{name: "override content_id", format: f, overrides: map[string]string{"content_id": "properties.title"}, msg: track(), want: map[string]string{"content_id": "Intro to Analytics"}},
		{name: "override url", format: f, overrides: map[string]string{"url": "context.page.path"}, msg: track(), want: map[string]string{"url": "/academy/"}},
		{name: "override title", format: f, overrides: map[string]string{"title": "context.page.title"}, msg: track(), want: map[string]string{"title": "Analytics Academy"}},
		{name: "override referrer", format: f, overrides: map[string]string{"referrer": "context.page.url"}, msg: track(), want: map[string]string{"referrer": "https://segment.com/academy/"}},
		{name: "override source", format: f, overrides: map[string]string{"source": "context.library.name"}, msg: track(), want: map[string]string{"source": "analytics.js"}},
		{name: "an overridden type needs no call type", format: f, overrides: map[string]string{"type": "event"}, msg: track(set("type", nil)), want: map[string]string{"type": "course_clicked", "plan": "Pro Annual"}},
		// Each missing field, and bad ones.
		{name: "no person", format: f, msg: track(set("userId", nil), set("anonymousId", nil)),
			wantErr: "segment: userId or anonymousId is required", wantReason: "missing_field", wantField: "userId"},
		{name: "empty ids are no person", format: f, msg: track(set("userId", ""), set("anonymousId", "")),
			wantErr: "segment: userId or anonymousId is required", wantReason: "missing_field", wantField: "userId"},
		{name: "no messageId", format: f, msg: track(set("messageId", nil)),
			wantErr: "segment: messageId is required", wantReason: "missing_field", wantField: "messageId"},
		{name: "no time", format: f, msg: track(set("timestamp", nil), set("originalTimestamp", nil), set("sentAt", nil), set("receivedAt", nil)),
			wantErr: "segment: timestamp, originalTimestamp, sentAt or receivedAt is required", wantReason: "missing_field", wantField: "timestamp"},
		{name: "no type", format: f, msg: track(set("type", nil)),
			wantErr: "segment: type is required", wantReason: "missing_field", wantField: "type"},
		{name: "no event on a track call", format: f, msg: track(set("event", nil)),
			wantErr: "segment: event is required", wantReason: "missing_field", wantField: "event"},
		{name: "overridden type missing", format: f, overrides: map[string]string{"type": "properties.kind"}, msg: track(),
			wantErr: "segment: properties.kind is required", wantReason: "missing_field", wantField: "properties.kind"},
		{name: "overridden customer missing", format: f, overrides: map[string]string{"customer_id": "properties.customer"}, msg: track(set("anonymousId", nil)),
			wantErr: "segment: properties.customer or anonymousId is required", wantReason: "missing_field", wantField: "properties.customer"},
		{name: "alias is not mapped", format: f, msg: track(set("type", "alias")),
			wantErr: `segment: type: "alias" is not track, page, screen, identify or group`, wantReason: "bad_field", wantField: "type"},
		{name: "an event name with no letter", format: f, msg: track(set("event", "!!! 42")),
			wantErr: `segment: event: "!!! 42" makes no event type: it needs a letter first`, wantReason: "bad_field", wantField: "event"},
		{name: "a bad timestamp", format: f, msg: track(set("timestamp", "yesterday")),
			wantErr: `segment: timestamp: "yesterday" is not an RFC 3339 time`, wantReason: "bad_field", wantField: "timestamp"},
		{name: "a userId that is an object", format: f, msg: track(set("userId", map[string]any{"id": 1})),
			wantErr: "segment: userId: expected a string, got JSON object", wantReason: "bad_field", wantField: "userId"},
		{name: "a lifecycle Dowser does not know", format: f, overrides: map[string]string{"lifecycle": "properties.stage"}, msg: track(set("properties.stage", "vip")),
			wantErr: `segment: properties.stage: "vip" is not customer or prospect`, wantReason: "bad_field", wantField: "properties.stage"},
		{name: "a NUL in the userId", format: f, msg: track(set("userId", "Ai\x00U")),
			wantErr: `segment: userId: "Ai\x00U" contains a NUL character (U+0000)`, wantReason: "bad_field", wantField: "userId"},
		{name: "a NUL in a property", format: f, msg: track(set("properties.plan", "P\x00")),
			wantErr: `segment: properties.plan: "P\x00" contains a NUL character (U+0000)`, wantReason: "bad_field", wantField: "properties.plan"},
		{name: "not JSON", format: f, msg: formats.Message{Value: []byte(`{"type":`)},
			wantErr: "segment: not JSON: unexpected EOF", wantReason: "not_json"},
		{name: "trailing data", format: f, msg: formats.Message{Value: []byte(`{} {}`)},
			wantErr: "segment: not JSON: trailing data after the JSON object", wantReason: "not_json"},
		{name: "an array", format: f, msg: formats.Message{Value: []byte(`[{"type":"track"}]`)},
			wantErr: "segment: expected a JSON object, got JSON array", wantReason: "bad_field", wantField: "(message)"},
	})
}
