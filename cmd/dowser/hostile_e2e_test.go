package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEndToEndHostileInputNeverAnswers5xx walks every REST operation the
// running service describes in its own /v1/openapi.json and sends it
// hostile values: in every path and query parameter, in every member of
// every JSON request body, as raw bodies, and in signal definitions. A bad
// request must be a 4xx that says what is wrong; a 5xx is a bug. This is
// the class-closing test of issue 11's "a few inputs answer 500".
func TestEndToEndHostileInputNeverAnswers5xx(t *testing.T) {
	t.Parallel() // see TestMain
	app := startApp(t)
	app.seed()
	app.do("PUT", "/v1/users/mgr-max", adminToken, map[string]string{"name": "Max", "role": "manager"}, http.StatusOK, nil)

	var doc map[string]any
	app.do("GET", "/v1/openapi.json", "", nil, http.StatusOK, &doc)
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		for m != nil {
			ref, ok := m["$ref"].(string)
			if !ok {
				break
			}
			var cur any = doc
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cur = cur.(map[string]any)[part]
			}
			m, _ = cur.(map[string]any)
		}
		return m
	}

	hostileStrings := []string{"", "\x00", "a\x00b", "\xff\xfe", "a\xc3", "\u202e", "..", "../../etc/passwd", " ", "%00",
		strings.Repeat("x", 129), strings.Repeat("é", 5000), strings.Repeat("y", 300<<10), "https://", "javascript:alert(1)"}
	// JSON texts of hostile values; some are raw bytes JSON cannot encode.
	hostileJSON := []string{`"\u0000"`, `"a\u0000b"`, "\"\xff\"", `"\ud800"`, `""`, `" "`, `"https://"`, `"http://x"`,
		`"` + strings.Repeat("z", 1<<20) + `"`, `"` + strings.Repeat("w", 100<<10) + `"`,
		`2147483648`, `-2147483649`, `9223372036854775808`, `-9223372036854775809`, `1e400`, `-1`, `0`, `1.5`,
		`true`, `null`, `{}`, `[]`, `[1,2]`, `{"a":{"b":"\u0000"}}`}
	hostileParams := []string{"%00", "a%00b", "%FF", "%C3", strings.Repeat("a", 5000), "2147483648", "-2147483649",
		"9223372036854775808", "-1", "0", "1e9", "%2e%2e", "a%2Fb", "%20", "%E2%80%AE", "x%22y"}
	validParam := map[string]string{"id": "x", "rep": "rep-ana", "kind": "customer", "version": "1"}

	var n int
	send := func(method, path, contentType string, body []byte) {
		t.Helper()
		n++
		req, err := http.NewRequest(method, "http://"+app.HTTPAddr()+path, bytes.NewReader(body))
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if d := time.Since(start); d > 5*time.Second {
			t.Logf("slow: %v for %s %.100s %.100q", d, method, path, body)
		}
		if err != nil {
			t.Errorf("%s %.200s: %v", method, path, err)
			return
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("%s %.200s with %.200q: %d %.300s", method, path, body, resp.StatusCode, got)
		}
	}

	param := regexp.MustCompile(`\{([^}]+)\}`)
	paths := doc["paths"].(map[string]any)
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for k := range paths {
			if !yield(k) {
				return
			}
		}
	}) {
		item := paths[p].(map[string]any)
		for _, method := range []string{"get", "put", "post", "delete"} {
			op := resolve(item[method])
			if op == nil || p == "/v1/stream" {
				continue
			}
			M := strings.ToUpper(method)
			fill := func(override map[string]string) string {
				return param.ReplaceAllStringFunc(p, func(m string) string {
					name := m[1 : len(m)-1]
					if v, ok := override[name]; ok {
						return v
					}
					return validParam[name]
				})
			}
			base := fill(nil)
			if p == "/v1/signals/preview" {
				base += "?since=1s" // a preview of hostile input, not of history
			}
			// A valid body, to pair with hostile parameters.
			var validBody []byte
			var validType string
			if rb := resolve(op["requestBody"]); rb != nil {
				content := rb["content"].(map[string]any)
				if _, ok := content["application/yaml"]; ok {
					validBody, validType = []byte("id: x\nowner: mkt-jane\nwhen:\n  threshold:\n    match: {type: page_view}\n    count: 3\n    within: 1h\n"), "application/yaml"
				} else {
					validBody, validType = []byte(`{}`), "application/json"
				}
			}
			// Path parameters.
			for _, m := range param.FindAllStringSubmatch(p, -1) {
				for _, v := range hostileParams {
					send(M, fill(map[string]string{m[1]: v}), validType, validBody)
				}
			}
			// Query parameters.
			var params []any
			ps, _ := op["parameters"].([]any)
			params = append(params, ps...)
			ps, _ = item["parameters"].([]any)
			params = append(params, ps...)
			for _, raw := range params {
				pm := resolve(raw)
				if pm["in"] != "query" {
					continue
				}
				for _, v := range append(hostileParams, "", "1s", "31d", "-1h", "9999999999999d", "true", "maybe") {
					send(M, strings.Split(base, "?")[0]+"?"+pm["name"].(string)+"="+v, validType, validBody)
				}
			}
			rb := resolve(op["requestBody"])
			if rb == nil {
				continue
			}
			// Raw bodies, each under every media type the operation takes
			// and a few it does not.
			raws := [][]byte{nil, []byte("{"), []byte("\xff"), []byte("{}}"), []byte(`{} {}`), []byte(`{"a":1,"a":2}`),
				[]byte("{\"x\":\"\x00\"}"), []byte(strings.Repeat("[", 100000)), []byte(strings.Repeat(`{"a":`, 20000)),
				bytes.Repeat([]byte("x"), 1<<20+1), []byte("null"), []byte("[]"), []byte("0"), []byte(`"s"`)}
			for _, ct := range []string{"application/json", "application/yaml", "text/plain", "", "application/json; charset=utf-16"} {
				for _, b := range raws {
					send(M, base, ct, b)
				}
			}
			// Every member of the JSON body's schema.
			content := rb["content"].(map[string]any)
			if js := resolve(content["application/json"]); js != nil {
				props, _ := resolve(js["schema"])["properties"].(map[string]any)
				for name := range props {
					for _, v := range hostileJSON {
						send(M, base, "application/json", []byte(`{"`+name+`":`+v+`}`))
					}
				}
			}
			// Events: hostile values in each field of a valid event.
			if p == "/v1/events" {
				for _, field := range []string{"id", "type", "time", "source", "content_id", "customer", "properties"} {
					for _, v := range hostileJSON {
						ev := map[string]json.RawMessage{
							"id": json.RawMessage(`"e-1"`), "type": json.RawMessage(`"page_view"`),
							"time": json.RawMessage(`"` + time.Now().UTC().Format(time.RFC3339) + `"`), "customer": json.RawMessage(`{"id":"c-1"}`),
						}
						ev[field] = json.RawMessage(v)
						var b bytes.Buffer
						b.WriteString("[{")
						first := true
						for k, raw := range ev {
							if !first {
								b.WriteByte(',')
							}
							first = false
							fmt.Fprintf(&b, "%q:%s", k, raw)
						}
						b.WriteString("}]")
						send(M, base, "application/json", b.Bytes())
					}
				}
			}
			// Signals: hostile values in each top-level field of a valid
			// definition, in YAML and in JSON.
			if _, ok := content["application/yaml"]; ok {
				for _, field := range []string{"id", "name", "owner", "audience", "scope", "priority", "message", "cooldown", "min_people"} {
					for _, v := range hostileStrings {
						sig := map[string]any{"id": "x", "owner": "mkt-jane", "when": map[string]any{"threshold": map[string]any{
							"match": map[string]any{"type": "page_view"}, "count": 3, "within": "1h"}}}
						sig[field] = v
						j, _ := json.Marshal(sig)
						send(M, base, "application/json", j)
						y := fmt.Sprintf("id: x\nowner: mkt-jane\nwhen:\n  threshold:\n    match: {type: page_view}\n    count: 3\n    within: 1h\n%s: %s\n",
							field, strconvQuoteYAML(v))
						if field == "id" || field == "owner" {
							y = strings.Replace(y, field+": ", "old_"+field+": ", 1)
							y = strings.Replace(y, "old_id: x\n", "", 1)
							y = strings.Replace(y, "old_owner: mkt-jane\n", "", 1)
						}
						send(M, base, "application/yaml", []byte(y))
					}
				}
				for _, v := range []string{"2147483648", "9223372036854775808", "-1", "1e400", "0x7fffffff"} {
					send(M, base, "application/yaml", []byte("id: x\nowner: mkt-jane\nmin_people: "+v+"\nwhen:\n  threshold:\n    match: {type: page_view}\n    count: "+v+"\n    within: 1h\n"))
				}
			}
		}
	}
	t.Logf("%d hostile requests sent", n)
}

// strconvQuoteYAML writes v as a YAML double-quoted scalar: Go's %q
// escapes (\x00, \u202e) are YAML escapes too, so NUL reaches the parser
// as the "\0" a hostile author would write.
func strconvQuoteYAML(v string) string {
	return fmt.Sprintf("%q", v)
}
