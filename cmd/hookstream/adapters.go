package main

import (
	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/routing"
)

// Which adapter serves which interface: each interface is declared by the
// package that uses it; the adapters implement them, and this is where
// they meet.
var (
	_ api.Store                = (*postgres.DB)(nil)
	_ api.QuarantineStore      = (*postgres.DB)(nil)
	_ api.TaskQueue            = (*pipeline.Queue)(nil)
	_ api.Redriver             = (*pipeline.Redriver)(nil)
	_ routing.Loader           = (*postgres.DB)(nil)
	_ pipeline.ClaimGate       = (*postgres.DB)(nil)
	_ pipeline.Sequencer       = (*postgres.DB)(nil)
	_ pipeline.OrderGate       = (*postgres.DB)(nil)
	_ pipeline.AttemptStore    = (*postgres.DB)(nil)
	_ pipeline.QuarantineIndex = (*postgres.DB)(nil)
	_ pipeline.RecoverStore    = (*postgres.DB)(nil)
	_ pipeline.TaskQueue       = (*pipeline.Queue)(nil)
	_ pipeline.Router          = (*routing.Table)(nil)
	_ pipeline.Matcher         = (*routing.Table)(nil)
	_ pipeline.Sender          = (*delivery.Sender)(nil)
)
