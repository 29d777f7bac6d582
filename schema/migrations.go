package schema

import "embed"

// Migrations holds the Postgres migrations, applied in lexical order of
// their file names (NNNN_name.sql), each once.
//
//go:embed migrations/*.sql
var Migrations embed.FS
