package api

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/dowserhq/dowser"
)

// LinkChecker checks one-click links: a key of the server signed them and
// they have not expired. It has no side effect.
type LinkChecker interface {
	Check(token string) (dowser.Link, error)
}

// LinkUser does what a checked one-click link says, once; a second use
// gets dowser.ErrLinkUsed. The Alerts store serves it when it is one.
type LinkUser interface {
	UseLink(ctx context.Context, l dowser.Link, now time.Time) error
	// LinkUsed reports whether the link with nonce was used already.
	LinkUsed(ctx context.Context, nonce string) (bool, error)
}

// linkPage is the small page a one-click link shows: a confirmation
// (GET, which acts on nothing, so that mail scanners that fetch links do
// nothing), the outcome (POST), or why the link is refused.
var linkPage = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}} · Dowser</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1.5rem}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Confirm}}<form method="post"><button type="submit">{{.Confirm}}</button></form>{{end}}
<p><a href="/">Open Dowser</a></p></body></html>
`))

type linkView struct {
	Title, Text, Confirm string
}

func writeLinkPage(w http.ResponseWriter, status int, v linkView) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The token is in the URL: nothing may keep or pass it on.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = linkPage.Execute(w, v)
}

// linkRefused is the page of a link that cannot act, with its status.
func linkRefused(err error) (int, linkView) {
	switch {
	case errors.Is(err, dowser.ErrLinkExpired):
		return http.StatusGone, linkView{Title: "This link has expired", Text: "Links in messages work for a limited time. Open Dowser to act on the alert."}
	case errors.Is(err, dowser.ErrLinkUsed):
		return http.StatusConflict, linkView{Title: "This link was used already", Text: "Each link acts once. Open Dowser to see the alert as it is now."}
	case errors.Is(err, dowser.ErrNotFound):
		return http.StatusNotFound, linkView{Title: "No such alert", Text: "The alert is gone, was not sent to you, or your account is disabled."}
	}
	return http.StatusForbidden, linkView{Title: "This link is not valid", Text: "It is not a link Dowser made, or it was changed. Open Dowser to act on the alert."}
}

// actionText says what a link does, before and after.
func actionText(l dowser.Link) (ask, done string) {
	switch l.Action {
	case dowser.LinkAck:
		return "Acknowledge alert " + l.AlertID + "?", "Alert " + l.AlertID + " is acknowledged."
	case dowser.LinkSnooze:
		return "Snooze alert " + l.AlertID + " for 4 hours?", "Alert " + l.AlertID + " is snoozed for 4 hours."
	case dowser.LinkUseful:
		return "Mark alert " + l.AlertID + " useful?", "Alert " + l.AlertID + " is marked useful. Thank you."
	}
	return "Mark alert " + l.AlertID + " not useful?", "Alert " + l.AlertID + " is marked not useful. Thank you."
}

// openLink (GET /v1/links/{token}) checks a link and asks to confirm.
func (s *Server) openLink(w http.ResponseWriter, r *http.Request) {
	l, err := s.checkLink(r)
	if err == nil {
		// Said at once, rather than after the button.
		var used bool
		if used, err = s.linkUser().LinkUsed(r.Context(), l.Nonce); err == nil && used {
			err = dowser.ErrLinkUsed
		}
	}
	if err != nil {
		status, v := linkRefused(err)
		if status == http.StatusForbidden && !errors.Is(err, dowser.ErrLinkForged) {
			s.cfg.Logger.Error("opening a link failed", "err", err)
			status, v = http.StatusInternalServerError, linkView{Title: "Something went wrong", Text: "Try the link again later."}
		}
		writeLinkPage(w, status, v)
		return
	}
	ask, _ := actionText(l)
	writeLinkPage(w, http.StatusOK, linkView{Title: l.Action.Label(), Text: ask, Confirm: l.Action.Label()})
}

// useLink (POST /v1/links/{token}) does what a link says, once.
func (s *Server) useLink(w http.ResponseWriter, r *http.Request) {
	l, err := s.checkLink(r)
	if err == nil {
		err = s.linkUser().UseLink(r.Context(), l, s.cfg.Now())
	}
	if err != nil {
		status, v := linkRefused(err)
		if status == http.StatusForbidden && !errors.Is(err, dowser.ErrLinkForged) {
			s.cfg.Logger.Error("using a link failed", "action", l.Action, "err", err)
			status, v = http.StatusInternalServerError, linkView{Title: "Something went wrong", Text: "Nothing was changed. Try the link again later."}
		}
		writeLinkPage(w, status, v)
		return
	}
	_, done := actionText(l)
	writeLinkPage(w, http.StatusOK, linkView{Title: "Done", Text: done})
}

func (s *Server) linkUser() LinkUser {
	lu, _ := s.alerts.(LinkUser)
	return lu
}

// checkLink checks the token of the request's path.
func (s *Server) checkLink(r *http.Request) (dowser.Link, error) {
	if s.cfg.Links == nil || s.linkUser() == nil {
		return dowser.Link{}, dowser.ErrLinkForged
	}
	return s.cfg.Links.Check(r.PathValue("token"))
}
