package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// documentedRoutes returns "METHOD /path" for every operation in doc.
func documentedRoutes(doc map[string]any) []string {
	var out []string
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if slices.Contains(openAPIMethods, method) {
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// registeredRoutes returns "METHOD /path" for every pattern routes()
// registers, in OpenAPI's path syntax ({name...} becomes {name}). The web
// assets at "GET /" are not part of the API.
func registeredRoutes(t *testing.T) []string {
	s := New(Config{}, Stores{}, nil)
	var out []string
	for _, p := range s.mux.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q has no method or a host: document it by hand and extend this test", p)
			continue
		}
		out = append(out, method+" "+strings.ReplaceAll(path, "...}", "}"))
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	registered := registeredRoutes(t)
	documented := documentedRoutes(loadOpenAPI(t))
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is registered in routes() but not documented in api/openapi.json", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(registered, r) {
			t.Errorf("%s is documented in api/openapi.json but not registered in routes()", r)
		}
	}
	if t.Failed() {
		t.Logf("registered: %q", registered)
	}
}

// TestOpenAPIDocumentIsConsistent checks what an OpenAPI validator would
// catch first: every $ref resolves, every path parameter is declared, every
// operation has an id and responses.
func TestOpenAPIDocumentIsConsistent(t *testing.T) {
	doc := loadOpenAPI(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Errorf("openapi = %q, want 3.x", v)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if resolve(doc, ref) == nil {
					t.Errorf("%s: $ref %q does not resolve", path, ref)
				}
			}
			for k, e := range v {
				walk(path+"/"+k, e)
			}
		case []any:
			for _, e := range v {
				walk(path+"[]", e)
			}
		}
	}
	walk("#", doc)

	ids := map[string]string{}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for path, raw := range doc["paths"].(map[string]any) {
		item := raw.(map[string]any)
		for _, method := range openAPIMethods {
			raw, ok := item[method]
			if !ok {
				continue
			}
			op := raw.(map[string]any)
			where := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q is also %s's", where, id, other)
			}
			ids[id] = where
			if rs, _ := op["responses"].(map[string]any); len(rs) == 0 {
				t.Errorf("%s: no responses", where)
			}
			declared := map[string]bool{}
			for _, list := range []any{item["parameters"], op["parameters"]} {
				ps, _ := list.([]any)
				for _, p := range ps {
					pm := p.(map[string]any)
					if ref, ok := pm["$ref"].(string); ok {
						pm, _ = resolve(doc, ref).(map[string]any)
					}
					if pm["in"] == "path" {
						declared[pm["name"].(string)] = true
					}
				}
			}
			for _, m := range param.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %q is not declared", where, m[1])
				}
			}
		}
	}
}

// resolve returns what a local $ref ("#/components/schemas/User") points
// to, or nil.
func resolve(doc map[string]any, ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var v any = doc
	for _, k := range strings.Split(rest, "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestOpenAPISchemasMatchGoTypes holds the documented JSON objects to the
// Go types the handlers encode and decode: the same property names, all the
// way down.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, v := range map[string]any{
		"LoginRequest":     loginRequest{},
		"Session":          sessionResponse{},
		"UserRequest":      userRequest{},
		"User":             dowser.User{},
		"Account":          dowser.Account{},
		"Content":          dowser.Content{},
		"ContentImpact":    dowser.ContentImpact{},
		"Contact":          dowser.Contact{},
		"TerritoryRule":    dowser.TerritoryRule{},
		"Precision":        dowser.Precision{},
		"FeedbackReason":   dowser.FeedbackReason{},
		"VerdictRequest":   dowser.Verdict{},
		"FeedbackReport":   dowser.FeedbackReport{},
		"SignalDefinition": detector.Signal{},
		"StoredSignal":     dowser.StoredSignal{},
		"SignalChange":     dowser.SignalChange{},
		"SignalVersion":    dowser.SignalVersion{},
		"ListedAlert":      dowser.ListedAlert{},
		"AlertLinks":       dowser.AlertLinks{},
		"TeamRep":          dowser.TeamRep{},
		"TeamAlert":        dowser.TeamAlert{},
		"Followable":       dowser.Followable{},
		"TimelineItem":     timelineItem{},
		"CRMLinks":         CRMLinks{},
		"Channel":          dowser.Channel{},
		"ChannelRequest":   channelRequest{},
		"ChannelDelivery":  dowser.ChannelDelivery{},
		"Alert":            schema.Alert{},
		"EscalationStep":   dowser.EscalationStep{},
		"Calendar":         dowser.Calendar{},
		"Problem":          detector.FieldError{},
		"StageModel":       dowser.StageModel{},
		"AccountStage":     dowser.AccountStage{},
		"HandoffRequest":   dowser.Handoff{},
		"HandoffResponse":  handoffResponse{},
		"HandoffReport":    dowser.HandoffReport{},
		"HandoffDecision":  dowser.HandoffDecision{},
	} {
		compareSchema(t, doc, "#/components/schemas/"+name, reflect.TypeOf(v), map[string]bool{})
	}
}

var (
	rawMessageType = reflect.TypeOf(json.RawMessage(nil))
	timeType       = reflect.TypeOf(time.Time{})
)

// compareSchema checks that the object schema at ref has exactly the JSON
// properties of struct type typ, and recurses into properties that are
// themselves references to object schemas.
func compareSchema(t *testing.T, doc map[string]any, ref string, typ reflect.Type, seen map[string]bool) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		if typ == rawMessageType {
			return
		}
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ == timeType || seen[ref] {
		return
	}
	seen[ref] = true
	schema, _ := resolve(doc, ref).(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	if props == nil {
		t.Errorf("%s: not an object schema with properties, but %s is a struct", ref, typ)
		return
	}
	fields := map[string]reflect.Type{}
	// VisibleFields reaches into embedded structs, as encoding/json does.
	for _, f := range reflect.VisibleFields(typ) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || (f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct) {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	for name, ft := range fields {
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s: no property %q, but %s has it", ref, name, typ)
			continue
		}
		if items, ok := p["items"].(map[string]any); ok {
			p = items
		}
		if sub, ok := p["$ref"].(string); ok {
			compareSchema(t, doc, sub, ft, seen)
		}
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s: property %q is not a JSON field of %s", ref, name, typ)
		}
	}
}

func TestOpenAPIServedWithoutAuthentication(t *testing.T) {
	srv := httptest.NewServer(New(Config{}, Stores{}, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json = %d, want 200 (%s)", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if string(body) != string(openAPIDocument) {
		t.Errorf("body is not the embedded api/openapi.json")
	}
}
