package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/dowserhq/dowser"
)

// CRMCall renders the request a crm channel's delivery makes: the alert
// template for an alert's delivery, the verdict template for a verdict's.
// panelURL is --public-url. A delivery that cannot be rendered fails the
// same way on every attempt: the error is permanent.
func CRMCall(del *dowser.ChannelDelivery, panelURL string) (dowser.CRMCall, error) {
	tmpl := del.Channel.CRM
	if tmpl == nil {
		return dowser.CRMCall{}, &permanentError{errors.New("the crm channel has no templates")}
	}
	data := dowser.CRMData{DeliveryID: del.ID, ChannelID: del.ChannelID, PanelURL: panelURL, Secret: del.Channel.Secret}
	if err := json.Unmarshal(del.Alert, &data.Alert); err != nil {
		return dowser.CRMCall{}, &permanentError{fmt.Errorf("decoding alert %s: %w", del.AlertID, err)}
	}
	req, which := &tmpl.Alert, "alert"
	if del.VerdictAt != nil {
		if tmpl.Verdict == nil {
			return dowser.CRMCall{}, &permanentError{errors.New("the crm channel's verdict template was removed after this verdict was queued")}
		}
		data.Verdict = new(dowser.CRMVerdict)
		if err := json.Unmarshal(del.Verdict, data.Verdict); err != nil {
			return dowser.CRMCall{}, &permanentError{fmt.Errorf("decoding the verdict on %s: %w", del.AlertID, err)}
		}
		req, which = tmpl.Verdict, "verdict"
	}
	call, err := req.Render(del.Channel.Target, data)
	if err != nil {
		return call, &permanentError{fmt.Errorf("crm.%s.%w", which, err)}
	}
	return call, nil
}

// sendCRM makes one attempt of a crm channel's delivery; like send, it
// returns the response status (0 when there was none) and the wait a 429
// or 503 asked for.
func (d *Dispatcher) sendCRM(ctx context.Context, del *dowser.ChannelDelivery) (status int, retryAfter time.Duration, err error) {
	call, err := CRMCall(del, d.cfg.PanelURL)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, call.Method, call.URL, bytes.NewReader(call.Body))
	if err != nil {
		return 0, 0, &permanentError{fmt.Errorf("building the request: %w", err)}
	}
	req.Header = call.Header
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "Dowser-Delivery/1")
	}
	req.Header.Set(HeaderDeliveryID, del.ID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(del.Attempts))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}
