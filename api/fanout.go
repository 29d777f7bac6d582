package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// fanoutTTL is how long the fan-out check trusts the counts it read from
// Postgres: the longest an endpoint created, changed or deleted through
// another instance goes unseen here. Changes through this instance are
// seen at once.
const fanoutTTL = 5 * time.Second

// maxFanoutEntries bounds the fan-out cache, in tenants and in event types
// counted; when full, it starts over.
const maxFanoutEntries = 10000

// fanoutCache remembers, per tenant, how many endpoints it has and, for a
// tenant with more than the limit, how many each event type reaches, so
// that publishing costs no Postgres query in the common case.
type fanoutCache struct {
	mu    sync.Mutex
	m     map[string]*tenantFanout
	types int    // event types counted, over all tenants
	gen   uint64 // bumped by reset: counts read before are not kept
}

type tenantFanout struct {
	endpoints int
	byType    map[string]int // only for tenants with more endpoints than the limit
	until     time.Time
}

// fanoutStore is what the fan-out check reads.
type fanoutStore interface {
	CountEndpoints(ctx context.Context, tenant string) (int, error)
	CountMatchingEndpoints(ctx context.Context, tenant, eventType string, atMost int) (int, error)
}

// checkFanout answers 422 (500 when Postgres fails) and returns false when
// the event type matches more of the tenant's endpoints than MaxFanout.
func (s *Server) checkFanout(w http.ResponseWriter, r *http.Request, tenant, eventType string) bool {
	if s.MaxFanout <= 0 {
		return true
	}
	n, err := s.fanout.matching(r.Context(), s.Store, s.Now(), tenant, eventType, s.MaxFanout)
	if err != nil {
		s.internal(w, r, "count endpoints", err)
		return false
	}
	if err := schema.CheckFanout(n, s.MaxFanout); err != nil {
		var fe *schema.FieldError
		if errors.As(err, &fe) {
			writeProblem(w, fieldProblem(fe.Field, fe.Reason))
		} else {
			writeProblem(w, problem(http.StatusUnprocessableEntity, err.Error()))
		}
		return false
	}
	return true
}

// matching returns how many of the tenant's endpoints eventType reaches,
// counted no further than limit+1; or, when the tenant has at most limit
// endpoints (no type can reach more), that number.
func (c *fanoutCache) matching(ctx context.Context, store fanoutStore, now time.Time, tenant, eventType string, limit int) (int, error) {
	c.mu.Lock()
	gen := c.gen
	e := c.m[tenant]
	if e != nil && now.Before(e.until) {
		if e.endpoints <= limit {
			c.mu.Unlock()
			return e.endpoints, nil
		}
		if n, ok := e.byType[eventType]; ok {
			c.mu.Unlock()
			return n, nil
		}
	} else {
		e = nil
	}
	c.mu.Unlock()

	if e == nil {
		count, err := store.CountEndpoints(ctx, tenant)
		if err != nil {
			return 0, err
		}
		e = &tenantFanout{endpoints: count, until: now.Add(fanoutTTL)}
		c.mu.Lock()
		if c.gen == gen {
			if c.m == nil || len(c.m) >= maxFanoutEntries {
				c.m, c.types = map[string]*tenantFanout{}, 0
			}
			if old := c.m[tenant]; old != nil {
				c.types -= len(old.byType)
			}
			c.m[tenant] = e
		}
		c.mu.Unlock()
		if count <= limit {
			return count, nil
		}
	}
	n, err := store.CountMatchingEndpoints(ctx, tenant, eventType, limit+1)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.m[tenant] != e {
		return n, nil
	}
	if c.types >= maxFanoutEntries {
		c.m, c.types = map[string]*tenantFanout{tenant: e}, 0
		clear(e.byType)
	}
	if e.byType == nil {
		e.byType = map[string]int{}
	}
	if _, ok := e.byType[eventType]; !ok {
		c.types++
	}
	e.byType[eventType] = n
	return n, nil
}

// reset forgets every count: an endpoint changed.
func (c *fanoutCache) reset() {
	c.mu.Lock()
	c.m, c.types = nil, 0
	c.gen++
	c.mu.Unlock()
}
