package dowser

import (
	"encoding/json"
	"fmt"
	"time"
)

// StoredSignal is one signal definition as stored: its current version and
// whether it is enabled.
type StoredSignal struct {
	ID        string          `json:"id"`
	Version   int             `json:"version"`
	Enabled   bool            `json:"enabled"`
	Document  json.RawMessage `json:"document"`
	Source    string          `json:"source"`
	UpdatedBy string          `json:"updated_by"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// SignalChange is one entry of a signal's history.
type SignalChange struct {
	Version   int       `json:"version"`
	Action    string    `json:"action"`
	ChangedBy string    `json:"changed_by"`
	ChangedAt time.Time `json:"changed_at"`
}

// SignalVersion is one immutable saved definition.
type SignalVersion struct {
	ID        string          `json:"id"`
	Version   int             `json:"version"`
	Document  json.RawMessage `json:"document"`
	Source    string          `json:"source"`
	CreatedBy string          `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
}

// SignalLimitError is returned when a save or enable would make more
// signals enabled than the limit the store was given. Nothing was changed.
type SignalLimitError struct {
	ID    string // the signal that would have been enabled
	Limit int
}

func (e *SignalLimitError) Error() string {
	return fmt.Sprintf("enabling signal %q: %d signals are enabled already, the most allowed", e.ID, e.Limit)
}
