package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/dowserhq/dowser"
)

// Channels are the signed-in user's channels (where their alerts go
// besides the panel) and the record of their deliveries. Every call names
// the owner: a user reaches only their own channels.
type Channels interface {
	ListChannels(ctx context.Context, userID string) ([]dowser.Channel, error)
	GetChannel(ctx context.Context, userID string, id int64) (dowser.Channel, error)
	AddChannel(ctx context.Context, c dowser.Channel) (dowser.Channel, error)
	UpdateChannel(ctx context.Context, c dowser.Channel, retirePrevious bool) (dowser.Channel, error)
	DeleteChannel(ctx context.Context, userID string, id int64) error
	ChannelDeliveries(ctx context.Context, userID string, id int64, status string, limit int) ([]dowser.ChannelDelivery, error)
}

// MaxChannelsPerUser bounds the channels one user may have: each alert
// they receive is one delivery per channel.
const MaxChannelsPerUser = 20

type channelRequest struct {
	Kind    dowser.ChannelKind `json:"kind"`
	Target  string             `json:"target"`
	Enabled *bool              `json:"enabled"`
	Secret  string             `json:"secret"`
	// RetirePreviousSecret ends a rotation: only the newest secret signs.
	RetirePreviousSecret bool `json:"retire_previous_secret"`
	// DigestTimes and TimeZone: an e-mail channel's digests.
	DigestTimes []string `json:"digest_times"`
	TimeZone    string   `json:"time_zone"`
	// CRM is a crm channel's request templates.
	CRM *dowser.CRMTemplate `json:"crm"`
}

// crmByAdmin refuses a crm channel to anyone but an admin: it writes
// every alert and verdict to the CRM, whoever received them.
func crmByAdmin(kind dowser.ChannelKind, me dowser.User) error {
	if kind == dowser.ChannelCRM && me.Role != dowser.RoleAdmin {
		return errorf(http.StatusForbidden, "kind: only an admin configures crm channels; they write every alert to the CRM")
	}
	return nil
}

func (s *Server) channelsOn(w http.ResponseWriter, r *http.Request) bool {
	if s.channels == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "channels are not available on this server"))
		return false
	}
	return true
}

func channelID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "id: %q is not a channel id (a positive integer)", r.PathValue("id"))
	}
	return id, nil
}

// ownerOf is whose channels a request is about: the caller's, or on the
// admin routes /v1/users/{id}/channels, user {id}'s (who must exist and
// receive alerts).
func (s *Server) ownerOf(r *http.Request, me dowser.User) (string, error) {
	if r.PathValue("user") == "" {
		return me.ID, nil
	}
	id := r.PathValue("user")
	if fe := dowser.CheckID("id", id); fe != nil {
		return "", errorf(http.StatusBadRequest, "%v", fe)
	}
	u, err := s.people.GetUser(r.Context(), id)
	if err != nil {
		return "", err
	}
	if u.Role == dowser.RoleSource {
		return "", errorf(http.StatusBadRequest, "id: %q is a source and receives no alerts", id)
	}
	return u.ID, nil
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.channelsOn(w, r) {
		return
	}
	owner, err := s.ownerOf(r, me)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cs, err := s.channels.ListChannels(r.Context(), owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": cs})
}

func (s *Server) addChannel(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.channelsOn(w, r) {
		return
	}
	owner, err := s.ownerOf(r, me)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req channelRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := crmByAdmin(req.Kind, me); err != nil {
		s.fail(w, r, err)
		return
	}
	c := dowser.Channel{UserID: owner, Kind: req.Kind, Target: req.Target, Enabled: req.Enabled == nil || *req.Enabled, Secret: req.Secret,
		DigestTimes: req.DigestTimes, TimeZone: req.TimeZone, CRM: req.CRM}
	if err := badFieldsOf(c.Validate()); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.RetirePreviousSecret {
		s.fail(w, r, errorf(http.StatusBadRequest, "retire_previous_secret: a new channel has no previous secret"))
		return
	}
	have, err := s.channels.ListChannels(r.Context(), owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(have) >= MaxChannelsPerUser {
		s.fail(w, r, errorf(http.StatusConflict, "%s has %d channels, the most allowed; delete one first", owner, len(have)))
		return
	}
	c, err = s.channels.AddChannel(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c.Secret = ""
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.channelsOn(w, r) {
		return
	}
	id, err := channelID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.channels.GetChannel(r.Context(), me.ID, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// putChannel changes a channel's target, enabled flag or secret, and lifts
// a pause. The kind cannot change; a secret left out keeps the current.
func (s *Server) putChannel(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.channelsOn(w, r) {
		return
	}
	id, err := channelID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req channelRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	old, err := s.channels.GetChannel(r.Context(), me.ID, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Kind != "" && req.Kind != old.Kind {
		s.fail(w, r, errorf(http.StatusBadRequest, "kind: %q channel %d cannot become %q; add a new channel", old.Kind, id, req.Kind))
		return
	}
	if err := crmByAdmin(old.Kind, me); err != nil {
		s.fail(w, r, err)
		return
	}
	c := dowser.Channel{ID: id, UserID: me.ID, Kind: old.Kind, Target: req.Target, Enabled: req.Enabled == nil || *req.Enabled, Secret: req.Secret,
		DigestTimes: req.DigestTimes, TimeZone: req.TimeZone, CRM: req.CRM}
	check := c
	if check.Secret == "" {
		check.Secret = old.Secret // kept
	}
	if err := badFieldsOf(check.Validate()); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err = s.channels.UpdateChannel(r.Context(), c, req.RetirePreviousSecret)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) deleteChannel(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.channelsOn(w, r) {
		return
	}
	id, err := channelID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.channels.DeleteChannel(r.Context(), me.ID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// channelDeliveries lists a channel's newest deliveries: what was sent,
// what waits for a retry and why, what failed.
func (s *Server) channelDeliveries(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.channelsOn(w, r) {
		return
	}
	id, err := channelID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains([]string{dowser.DeliveryPending, dowser.DeliverySent, dowser.DeliveryFailed}, status) {
		s.fail(w, r, errorf(http.StatusBadRequest, "status: %q is not one of pending, sent, failed", status))
		return
	}
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.channels.GetChannel(r.Context(), me.ID, id); err != nil {
		s.fail(w, r, err)
		return
	}
	ds, err := s.channels.ChannelDeliveries(r.Context(), me.ID, id, status, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
}

// badFieldsOf maps a record's validation error to a 400 naming every
// problem.
func badFieldsOf(err error) error {
	if p, ok := err.(dowser.Problems); ok {
		return badFields(p, http.StatusBadRequest)
	}
	return err
}
