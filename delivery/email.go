package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// SMTP is the mail server e-mail channels are sent through. Addr empty
// means e-mail is off: such deliveries fail saying so.
type SMTP struct {
	// Addr is host:port, e.g. smtp.example.com:587.
	Addr string
	// From is the sender address, e.g. dowser@example.com.
	From string
	// Username and Password, when set, authenticate with AUTH PLAIN, which
	// is only sent over TLS (STARTTLS) or to a server on this host.
	Username, Password string
}

// sendEmail mails del's alert to its channel's address; it returns the
// server's reply code to the message (250 when accepted).
func (d *Dispatcher) sendEmail(ctx context.Context, del *dowser.ChannelDelivery) (status int, err error) {
	cfg := d.cfg.SMTP
	if cfg.Addr == "" {
		return 0, &permanentError{errors.New("e-mail is not configured on this server (--smtp-addr)")}
	}
	var msg []byte
	if del.DigestID != 0 {
		msg, err = d.digestMessage(del, cfg.From, time.Now())
	} else {
		var links []Link
		if links, err = d.linksFor(del.AlertID, del.UserID); err != nil {
			return 0, err
		}
		msg, err = emailMessage(del, cfg.From, d.cfg.PanelURL, time.Now(), d.journeyFor(ctx, del), links...)
	}
	if err != nil {
		return 0, &permanentError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return 0, smtpError(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return 0, smtpError(fmt.Errorf("STARTTLS: %w", err))
		}
	}
	if cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
			return 0, smtpError(fmt.Errorf("authenticating: %w", err))
		}
	}
	if err := c.Mail(cfg.From); err != nil {
		return 0, smtpError(fmt.Errorf("MAIL FROM: %w", err))
	}
	if err := c.Rcpt(del.Channel.Target); err != nil {
		return 0, smtpError(fmt.Errorf("RCPT TO: %w", err))
	}
	w, err := c.Data()
	if err != nil {
		return 0, smtpError(fmt.Errorf("DATA: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		return 0, smtpError(err)
	}
	if err := w.Close(); err != nil {
		return 0, smtpError(fmt.Errorf("sending the message: %w", err))
	}
	_ = c.Quit()
	return 250, nil
}

// smtpError marks a 5xx reply, which the server will give again, as
// permanent; 4xx replies and lost connections are worth a retry.
func smtpError(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return &permanentError{err}
	}
	return err
}

// classifySMTP is Classify for a mail: the error decides, as the reply
// codes of SMTP are not HTTP's.
func classifySMTP(err error) Outcome {
	var pe *permanentError
	switch {
	case err == nil:
		return Sent
	case errors.As(err, &pe):
		return Permanent
	}
	return Retry
}

// oneLine keeps a header value on one line: a CR or LF in a signal's name
// or message must not start another header.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// emailMessage is the RFC 5322 message of an alert: plain text, UTF-8,
// quoted-printable, its Message-ID derived from the delivery id so that a
// resent message is recognisable as the same.
func emailMessage(del *dowser.ChannelDelivery, from, panelURL string, now time.Time, j *JourneySummary, links ...Link) ([]byte, error) {
	var a schema.Alert
	if err := json.Unmarshal(del.Alert, &a); err != nil {
		return nil, fmt.Errorf("decoding alert %s: %w", del.AlertID, err)
	}
	var text strings.Builder
	text.WriteString(a.Message + "\n\n")
	for _, f := range facts(&a) {
		text.WriteString(f[0] + ": " + f[1] + "\n")
	}
	if j != nil {
		text.WriteString("\n" + journeyHeading(j) + ":\n  " + textJourney(j, panelURL, "\n  ", "  Talking point: %s") + "\n")
	} else if ev := journey(&a); len(ev) > 0 {
		text.WriteString("\nJourney:\n  " + strings.Join(ev, "\n  ") + "\n")
	}
	if panelURL != "" {
		text.WriteString("\nOpen in Dowser: " + panelURL + "\n")
	}
	writeLinks(&text, links)
	text.WriteString("\nAlert " + a.ID + "\n")
	return mailMessage(del, from, title(&a)+": "+a.Message, now, text.String())
}

// writeLinks lists one-click links in a mail's text, one per line.
func writeLinks(text *strings.Builder, links []Link) {
	if len(links) == 0 {
		return
	}
	text.WriteString("\n")
	for _, l := range links {
		text.WriteString(l.Action.Label() + ": " + l.URL + "\n")
	}
}

// mailMessage is an RFC 5322 message of del with subject (cut to one
// line) and text.
func mailMessage(del *dowser.ChannelDelivery, from, subject string, now time.Time, text string) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from)
	header("To", del.Channel.Target)
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(subject)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+del.ID+"@dowser>")
	header(HeaderDeliveryID, del.ID)
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
