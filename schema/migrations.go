package schema

import "embed"

// Migrations holds the SQL migrations, in goose's format, applied in file
// name order by the postgres package.
//
//go:embed migrations/*.sql
var Migrations embed.FS
