package dowser

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// Limits of a CRM channel's templates, in bytes.
const (
	MaxCRMPathLen    = 2048
	MaxCRMBodyLen    = 16 << 10
	MaxCRMHeaders    = 16
	MaxCRMHeaderLen  = 1024
	maxCRMRenderSize = 256 << 10
)

// CRMTemplate is how a crm channel writes to a CRM: one request per alert
// and, when Verdict is set, one per verdict given on an alert. The
// requests go to the channel's target (the CRM's base URL); the templates
// choose only the path, the headers and the body, so that no value from
// an alert can send a request elsewhere.
type CRMTemplate struct {
	Alert   CRMRequest  `json:"alert"`
	Verdict *CRMRequest `json:"verdict,omitempty"`
}

// CRMRequest is one request's template. Path, the header values and Body
// are Go text/template templates over a CRMData (Secret only in headers).
type CRMRequest struct {
	// Method is POST, PUT or PATCH.
	Method string `json:"method"`
	// Path is appended to the channel's target; it starts with "/" and
	// may carry a query.
	Path string `json:"path"`
	// Headers are sent with the request; Content-Type defaults to
	// application/json.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body; when the content type is JSON it must
	// render to valid JSON (use {{json .X}} for values).
	Body string `json:"body,omitempty"`
}

// CRMData is what a CRM template sees.
type CRMData struct {
	Alert schema.Alert
	// Verdict is the verdict given, for the verdict template; nil for the
	// alert template.
	Verdict *CRMVerdict
	// DeliveryID is the delivery's id, the same on every attempt: an
	// idempotency key for CRMs that take one.
	DeliveryID string
	ChannelID  int64
	// PanelURL is --public-url, "" when not set.
	PanelURL string
	// Secret is the channel's secret (an API token), in headers only.
	Secret string
}

// CRMVerdict is a verdict as a CRM template sees it.
type CRMVerdict struct {
	UserID  string    `json:"user_id"`
	Verdict string    `json:"verdict"`
	Reason  string    `json:"reason,omitempty"`
	Note    string    `json:"note,omitempty"`
	Value   *float64  `json:"value,omitempty"`
	At      time.Time `json:"at"`
}

// CRMCall is a rendered request, ready to send.
type CRMCall struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// crmFuncs are the functions templates may call besides text/template's
// own (urlquery, printf, ...).
func crmFuncs() template.FuncMap {
	return template.FuncMap{
		// json writes v as JSON: a string becomes a quoted, escaped literal.
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		// journey is the alert's last five evidence events, one a line.
		"journey": func(a schema.Alert) string { return strings.Join(Journey(a), "\n") },
		// pathescape escapes a value for one path segment.
		"pathescape": url.PathEscape,
		"upper":      strings.ToUpper,
		"lower":      strings.ToLower,
		// unixms is a time in Unix milliseconds (HubSpot's timestamps).
		"unixms": func(t time.Time) int64 { return t.UnixMilli() },
		// rfc3339 is a time in UTC as RFC 3339 (Salesforce's dateTime).
		"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		// date is a time's UTC date, 2006-01-02 (Salesforce's ActivityDate).
		"date": func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	}
}

// Journey summarises the alert's evidence, newest last, at most five
// lines of "15:04 type: what".
func Journey(a schema.Alert) []string {
	ev := a.Evidence
	if len(ev) > 5 {
		ev = ev[len(ev)-5:]
	}
	out := make([]string, 0, len(ev))
	for _, e := range ev {
		line := e.Time.UTC().Format("15:04") + " " + e.Type
		for _, what := range []string{e.Title, e.Subject, e.URL, e.ContentID} {
			if what != "" {
				line += ": " + what
				break
			}
		}
		out = append(out, line)
	}
	return out
}

// Validate checks both requests: each template parses, and renders for a
// sample alert (and verdict) to a path under the target and, for JSON, a
// valid JSON body. Field paths start at field ("crm").
func (t *CRMTemplate) Validate(field string) Problems {
	var p Problems
	if t == nil {
		p.Add(fieldErrorf(field, "is required for a crm channel: {\"alert\": {\"method\", \"path\", \"headers\", \"body\"}, \"verdict\": {...}}"))
		return p
	}
	sample := sampleCRMData()
	p = append(p, t.Alert.validate(field+".alert", sample)...)
	if t.Verdict != nil {
		sample.Verdict = &CRMVerdict{UserID: "rep-ana", Verdict: VerdictWon, Reason: "timing", Note: "Signed", Value: new(12000.0), At: sample.Alert.Time}
		p = append(p, t.Verdict.validate(field+".verdict", sample)...)
	}
	return p
}

func (r *CRMRequest) validate(field string, sample CRMData) Problems {
	var p Problems
	if !slices.Contains([]string{http.MethodPost, http.MethodPut, http.MethodPatch}, r.Method) {
		p.Add(fieldErrorf(field+".method", "%s is not one of POST, PUT, PATCH", quoteShort(r.Method)))
	}
	switch {
	case CheckText(field+".path", r.Path, MaxCRMPathLen) != nil:
		p.Add(CheckText(field+".path", r.Path, MaxCRMPathLen))
	case !strings.HasPrefix(r.Path, "/") || strings.HasPrefix(r.Path, "//"):
		p.Add(fieldErrorf(field+".path", "%s must start with one \"/\": it is appended to the channel's target", quoteShort(r.Path)))
	}
	if fe := CheckText(field+".body", r.Body, MaxCRMBodyLen); fe != nil {
		p.Add(fe)
	}
	if len(r.Headers) > MaxCRMHeaders {
		p.Add(fieldErrorf(field+".headers", "has %d headers; at most %d", len(r.Headers), MaxCRMHeaders))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		hf := field + ".headers." + name
		switch canon := http.CanonicalHeaderKey(name); {
		case !validHeaderName(name):
			p.Add(fieldErrorf(hf, "is not a header name"))
		case canon == "Host" || canon == "Content-Length" || canon == "Transfer-Encoding" || canon == "Connection" || strings.HasPrefix(canon, "Dowser-"):
			p.Add(fieldErrorf(hf, "is set by Dowser and cannot be templated"))
		case CheckText(hf, r.Headers[name], MaxCRMHeaderLen) != nil:
			p.Add(CheckText(hf, r.Headers[name], MaxCRMHeaderLen))
		}
	}
	if len(p) > 0 {
		return p
	}
	// The trial render finds what only execution finds: a field the data
	// lacks (.Alert.Acount), .Verdict in the alert template, a body that
	// is not JSON.
	if _, err := r.Render("https://crm.example.com", sample); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Field = field + "." + fe.Field
			p.Add(fe)
		} else {
			p.Add(fieldErrorf(field, "%v", err))
		}
	}
	return p
}

// Render builds the request for data, to be sent to target (the
// channel's base URL). Errors are *FieldError naming the template
// ("path", "body", "headers.X") that failed.
func (r *CRMRequest) Render(target string, data CRMData) (CRMCall, error) {
	call := CRMCall{Method: r.Method, Header: http.Header{}}
	secret := data.Secret
	data.Secret = "" // headers only
	path, err := renderCRM("path", r.Path, data)
	if err != nil {
		return call, err
	}
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\r\n ") {
		return call, fieldErrorf("path", "rendered to %s: not a path starting with one \"/\" (escape values with pathescape or urlquery)", quoteShort(path))
	}
	base, err := url.Parse(strings.TrimSuffix(target, "/"))
	if err != nil {
		return call, fieldErrorf("target", "is not a URL")
	}
	u, err := url.Parse(base.String() + path)
	if err != nil || u.Host != base.Host || u.Scheme != base.Scheme {
		return call, fieldErrorf("path", "rendered to %s, which does not stay under the target", quoteShort(path))
	}
	call.URL = u.String()
	data.Secret = secret
	for name, tmpl := range r.Headers {
		v, err := renderCRM("headers."+name, tmpl, data)
		if err != nil {
			return call, err
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return call, fieldErrorf("headers."+name, "rendered to a value with a line break")
		}
		call.Header.Set(name, v)
	}
	data.Secret = ""
	if call.Header.Get("Content-Type") == "" {
		call.Header.Set("Content-Type", "application/json")
	}
	body, err := renderCRM("body", r.Body, data)
	if err != nil {
		return call, err
	}
	if strings.Contains(call.Header.Get("Content-Type"), "json") && body != "" && !json.Valid([]byte(body)) {
		return call, fieldErrorf("body", "rendered to invalid JSON (write values with {{json .Alert.Message}}): %s", quoteShort(body))
	}
	call.Body = []byte(body)
	return call, nil
}

// renderCRM parses and executes one template; a field missing from the
// data is an error, not "<no value>".
func renderCRM(field, text string, data CRMData) (string, error) {
	t, err := template.New(field).Option("missingkey=error").Funcs(crmFuncs()).Parse(text)
	if err != nil {
		return "", fieldErrorf(field, "does not parse: %v", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&limitedWriter{w: &b, n: maxCRMRenderSize}, data); err != nil {
		return "", fieldErrorf(field, "does not render: %v", err)
	}
	return b.String(), nil
}

// limitedWriter fails a render that grows past n bytes.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.w.Len()+len(p) > l.n {
		return 0, fmt.Errorf("renders to more than %d bytes", l.n)
	}
	return l.w.Write(p)
}

func sampleCRMData() CRMData {
	at := time.Date(2026, 12, 2, 9, 41, 7, 0, time.UTC)
	return CRMData{
		Alert: schema.Alert{
			ID: "al-3f9c2a7d41b0e5c6a9d8e7f1", SignalID: "pricing-research", SignalVersion: 3, SignalName: "Pricing research",
			SignalOwner: "mkt-omar", Subject: "account:acme", CustomerID: "c-1842", AccountID: "acme", AccountName: "Acme",
			Rep: "rep-ana", RepName: "Ana", Lifecycle: "prospect", Priority: "high", Message: "Acme: pricing viewed 3 times",
			Count: 3, EventID: "evt-9f2", Time: at,
			Evidence: []schema.Evidence{{EventID: "evt-9f2", Type: "page_view", Time: at, CustomerID: "c-1842", URL: "https://example.com/pricing", Title: "Pricing"}},
		},
		DeliveryID: "5b0e8c1e-2f4d-4c8a-9a51-0d6f3e7b2c19", ChannelID: 7, PanelURL: "https://dowser.example.com/", Secret: "sample-secret",
	}
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if c > 0x7e || c <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}
