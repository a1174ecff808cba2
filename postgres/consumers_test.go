package postgres_test

import (
	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/broadcast"
	"github.com/dowserhq/dowser/pipeline"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/preview"
)

// The consumers declare the interfaces they need and do not import
// postgres; each store is held here to the interfaces it is wired into.
var (
	_ api.People    = (*postgres.People)(nil)
	_ api.Directory = (*postgres.Directory)(nil)
	_ api.Signals   = (*postgres.Signals)(nil)
	_ api.Alerts    = (*postgres.Alerts)(nil)
	_ api.Privacy   = (*postgres.Privacy)(nil)

	_ pipeline.CheckpointStore = (*postgres.Checkpoints)(nil)
	_ pipeline.AlertStore      = (*postgres.Alerts)(nil)
	_ pipeline.AccountStore    = (*postgres.Directory)(nil)
	_ pipeline.SignalStore     = (*postgres.Signals)(nil)
	_ pipeline.PrivacyStore    = (*postgres.Privacy)(nil)

	_ broadcast.Outbox   = (*postgres.Alerts)(nil)
	_ broadcast.Erasures = (*postgres.Privacy)(nil)

	_ preview.ContentDirectory = (*postgres.Directory)(nil)
	_ preview.RecentAlerts     = (*postgres.Alerts)(nil)
	_ preview.AccountOwners    = (*postgres.Directory)(nil)
)
