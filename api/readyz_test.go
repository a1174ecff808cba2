package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestReadinessReportsProblemsAndStalls(t *testing.T) {
	var down error
	rd := Readiness{
		Checks:     []ReadyCheck{{Name: "postgres", Check: func(context.Context) error { return down }}},
		Stalled:    func() []string { return []string{"partition 2 stalled"} },
		Partitions: func() []int { return []int{0, 2} },
	}
	get := func() (int, map[string]any) {
		rec := httptest.NewRecorder()
		rd.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v", rec.Body, err)
		}
		return rec.Code, body
	}
	code, body := get()
	if code != http.StatusOK || body["status"] != "ready" || len(body["partitions"].([]any)) != 2 || len(body["stalled"].([]any)) != 1 {
		t.Errorf("ready: %d %v", code, body)
	}
	down = errors.New("connection refused")
	code, body = get()
	problems, _ := body["problems"].([]any)
	if code != http.StatusServiceUnavailable || !slices.Equal(problems, []any{"postgres: connection refused"}) || len(body["stalled"].([]any)) != 1 {
		t.Errorf("not ready: %d %v", code, body)
	}
}
