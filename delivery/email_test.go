package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/mail"
	"net/textproto"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

func TestEmailMessageKeepsHeadersOnTheirLines(t *testing.T) {
	alert, _ := json.Marshal(map[string]any{"id": "al-1", "signal_name": "Pricing\r\nBcc: victim@example.com", "priority": "urgent",
		"message": "Acme\nX-Injected: yes", "account_id": "acme", "time": time.Now()})
	del := &dowser.ChannelDelivery{ID: "d-1", AlertID: "al-1", Channel: dowser.Channel{Kind: dowser.ChannelEmail, Target: "ana@example.com"}, Alert: alert}
	msg, err := emailMessage(del, "dowser@example.com", "", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("reading the message: %v\n%s", err, msg)
	}
	if m.Header.Get("Bcc") != "" || m.Header.Get("X-Injected") != "" {
		t.Errorf("a signal's name or message added headers: %v", m.Header)
	}
	if got := m.Header.Get("Message-Id"); got != "<d-1@dowser>" {
		t.Errorf("Message-ID %q, want <d-1@dowser>", got)
	}
}

func TestClassifySMTP(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Outcome
	}{
		{nil, Sent},
		{smtpError(&textproto.Error{Code: 451, Msg: "try later"}), Retry},
		{smtpError(&textproto.Error{Code: 550, Msg: "no such user"}), Permanent},
		{smtpError(errors.New("connection reset")), Retry},
	} {
		if got := classifySMTP(tc.err); got != tc.want {
			t.Errorf("classifySMTP(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
