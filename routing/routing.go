// Package routing answers, from memory, which endpoints an event goes to and
// how to reach an endpoint. It keeps a table of every endpoint with its
// signing keys opened, loaded once, refreshed for each change an instance
// hears about and reloaded in full periodically, so that no event costs a
// database query. It does not persist anything.
package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/filter"
	"github.com/hookstream/hookstream/schema"
)

// Loader reads endpoints with their secrets. SendableEndpoints may return
// the endpoints it could read together with an error about the others;
// SendableEndpoint returns an error wrapping schema.ErrNotFound for an
// endpoint that does not exist.
type Loader interface {
	SendableEndpoints(ctx context.Context) ([]schema.Endpoint, error)
	SendableEndpoint(ctx context.Context, id string) (schema.Endpoint, error)
}

// ErrUnknownEndpoint is returned by Lookup for an endpoint that does not
// exist (deleted, or never created).
var ErrUnknownEndpoint = errors.New("routing: unknown endpoint")

// Route is an endpoint ready to be sent to.
type Route struct {
	schema.Endpoint
	keys []delivery.Key
	// filter is the compiled Filter; filterErr why it did not compile (the
	// endpoint then receives nothing until it is fixed).
	filter    *filter.Filter
	filterErr error
}

// Pass reports whether the route's filter lets the event through: true
// when it has none; an error (the filter failed on this event, or does not
// compile) means it does not.
func (r *Route) Pass(in *filter.Input) (bool, error) {
	switch {
	case r.Filter == "":
		return true, nil
	case r.filterErr != nil:
		return false, r.filterErr
	}
	return r.filter.Match(in)
}

// Keys returns the signing keys valid at now: the current one and, during a
// rotation overlap, the previous one.
func (r *Route) Keys(now time.Time) []delivery.Key {
	if len(r.keys) > 1 && !now.Before(r.SecretsUntil) {
		return r.keys[:1]
	}
	return r.keys
}

// Table is the in-memory endpoint table. It is safe for concurrent use.
type Table struct {
	loader Loader
	log    *slog.Logger

	mu       sync.RWMutex
	byID     map[string]*Route
	byTenant map[string]*tenantRoutes
	// filters holds the compiled filters by source, so that a reload
	// compiles only the filters it has not seen.
	filters sync.Map // string -> *filter.Filter
	// gen counts the changes of single endpoints the table applied. While
	// full reloads run (reloading > 0), changed holds the generation of
	// each endpoint changed since the oldest of them began.
	gen       uint64
	reloading int
	changed   map[string]uint64
}

// tenantRoutes indexes a tenant's endpoints by the event types they name,
// so that matching an event costs a map lookup and a scan of the
// endpoints with wildcards, not a scan of every endpoint.
type tenantRoutes struct {
	exact map[string][]*Route // endpoints without wildcards, by event type, in id order
	wild  []*Route            // endpoints with a wildcard pattern, in id order
	// filtered is how many of the tenant's endpoints have a filter: none,
	// and Filter costs nothing.
	filtered int
}

// New returns an empty table.
func New(loader Loader, log *slog.Logger) *Table {
	return &Table{
		loader:   loader,
		log:      log,
		byID:     map[string]*Route{},
		byTenant: map[string]*tenantRoutes{},
		changed:  map[string]uint64{},
	}
}

func (t *Table) newRoute(ep schema.Endpoint) (*Route, error) {
	r := &Route{Endpoint: ep}
	if ep.Filter != "" {
		if f, ok := t.filters.Load(ep.Filter); ok {
			r.filter = f.(*filter.Filter)
		} else if r.filter, r.filterErr = filter.Compile(ep.Filter); r.filterErr == nil {
			t.filters.Store(ep.Filter, r.filter)
		} else {
			t.log.Error("endpoint filter does not compile: the endpoint receives nothing until it is fixed",
				"endpoint_id", ep.ID, "err", r.filterErr)
		}
	}
	for _, s := range ep.Secrets {
		k, err := delivery.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("routing: endpoint %s: %w", ep.ID, err)
		}
		r.keys = append(r.keys, k)
	}
	r.Secrets = nil // keys only from here on
	return r, nil
}

// ReloadAll replaces the table with every endpoint the loader returns,
// except those changed (by Refresh, Lookup or Reload) while the loader was
// reading: the table keeps what those changes applied, since they read the
// endpoint after the reload began, or will be followed by the notice of a
// newer change. Without that, a reload would bring back an endpoint
// deleted meanwhile, or a secret rotated meanwhile, until the next one.
func (t *Table) ReloadAll(ctx context.Context) error {
	t.mu.Lock()
	start := t.gen
	t.reloading++
	t.mu.Unlock()
	eps, err := t.loader.SendableEndpoints(ctx)
	if err != nil && eps == nil {
		t.mu.Lock()
		t.endReload()
		t.mu.Unlock()
		return fmt.Errorf("routing: reload: %w", err)
	}
	if err != nil {
		t.log.Error("some endpoints could not be loaded", "err", err)
	}
	byID := make(map[string]*Route, len(eps))
	for _, ep := range eps {
		r, err := t.newRoute(ep)
		if err != nil {
			t.log.Error("endpoint skipped", "endpoint_id", ep.ID, "err", err)
			continue
		}
		byID[ep.ID] = r
	}
	t.mu.Lock()
	for id, gen := range t.changed {
		if gen <= start {
			continue // applied before the loader read: its answer is as new
		}
		if r, ok := t.byID[id]; ok {
			byID[id] = r
		} else {
			delete(byID, id)
		}
	}
	t.byID = byID
	t.reindex()
	t.endReload()
	t.mu.Unlock()
	// Forget the filters no endpoint has any more. One changed meanwhile
	// is compiled again if it comes back: the cache only saves work.
	t.mu.RLock()
	used := make(map[string]bool)
	for _, r := range t.byID {
		if r.Filter != "" {
			used[r.Filter] = true
		}
	}
	t.mu.RUnlock()
	t.filters.Range(func(k, _ any) bool {
		if !used[k.(string)] {
			t.filters.Delete(k)
		}
		return true
	})
	return nil
}

// endReload ends a full reload; t.mu must be held.
func (t *Table) endReload() {
	t.reloading--
	if t.reloading == 0 {
		clear(t.changed)
	}
}

// Refresh reloads one endpoint (all of them when id is empty).
func (t *Table) Refresh(ctx context.Context, id string) error {
	if id == "" {
		return t.ReloadAll(ctx)
	}
	_, err := t.fetch(ctx, id)
	if errors.Is(err, ErrUnknownEndpoint) {
		return nil
	}
	return err
}

// fetch loads one endpoint from the loader into the table.
func (t *Table) fetch(ctx context.Context, id string) (*Route, error) {
	ep, err := t.loader.SendableEndpoint(ctx, id)
	var r *Route
	switch {
	case errors.Is(err, schema.ErrNotFound):
		err = ErrUnknownEndpoint
	case err != nil:
		return nil, fmt.Errorf("routing: refresh %s: %w", id, err)
	default:
		if r, err = t.newRoute(ep); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	if r == nil {
		delete(t.byID, id)
	} else {
		t.byID[id] = r
	}
	t.gen++
	if t.reloading > 0 {
		t.changed[id] = t.gen
	}
	t.reindex()
	t.mu.Unlock()
	return r, err
}

// reindex rebuilds byTenant from byID; t.mu must be held.
func (t *Table) reindex() {
	all := make([]*Route, 0, len(t.byID))
	for _, r := range t.byID {
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b *Route) int { return strings.Compare(a.ID, b.ID) })
	byTenant := make(map[string]*tenantRoutes)
	for _, r := range all {
		tr := byTenant[r.Tenant]
		if tr == nil {
			tr = &tenantRoutes{exact: map[string][]*Route{}}
			byTenant[r.Tenant] = tr
		}
		if r.Filter != "" {
			tr.filtered++
		}
		if slices.ContainsFunc(r.EventTypes, func(p string) bool { return strings.Contains(p, "*") }) {
			tr.wild = append(tr.wild, r)
			continue
		}
		for i, p := range r.EventTypes {
			if !slices.Contains(r.EventTypes[:i], p) {
				tr.exact[p] = append(tr.exact[p], r)
			}
		}
	}
	t.byTenant = byTenant
}

// Match returns the ids of the tenant's endpoints subscribed to the event
// type, enabled or not (a disabled endpoint's deliveries are parked, not
// dropped), in id order.
func (t *Table) Match(tenant, eventType string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tr := t.byTenant[tenant]
	if tr == nil {
		return nil
	}
	exact := tr.exact[eventType]
	var ids []string
	if len(tr.wild) == 0 {
		if len(exact) == 0 {
			return nil
		}
		ids = make([]string, len(exact))
		for i, r := range exact {
			ids[i] = r.ID
		}
		return ids
	}
	// Merge the two id-ordered lists; an endpoint is in only one of them.
	i := 0
	for _, r := range tr.wild {
		if !schema.MatchAny(r.EventTypes, eventType) {
			continue
		}
		for ; i < len(exact) && exact[i].ID < r.ID; i++ {
			ids = append(ids, exact[i].ID)
		}
		ids = append(ids, r.ID)
	}
	for ; i < len(exact); i++ {
		ids = append(ids, exact[i].ID)
	}
	return ids
}

// Ordered reports whether the endpoint asks for ordered delivery per key
// (false for an endpoint the table does not know).
func (t *Table) Ordered(id string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := t.byID[id]
	return r != nil && r.Ordered()
}

// Filter returns the ids (of one tenant's endpoints, from Match) whose
// filters let the event through, in their order, and counts those that
// did not: dropped by their filter, and failed (an error: counted in
// dropped too). in is asked for what the filters read, once per event.
// Filters run outside the table's lock.
func (t *Table) Filter(tenant string, ids []string, in *filter.Input) (kept []string, dropped, failed int) {
	t.mu.RLock()
	tr := t.byTenant[tenant]
	if tr == nil || tr.filtered == 0 || len(ids) == 0 {
		t.mu.RUnlock()
		return ids, 0, 0
	}
	routes := make([]*Route, len(ids))
	for i, id := range ids {
		routes[i] = t.byID[id]
	}
	t.mu.RUnlock()
	kept = ids[:0:0]
	for i, r := range routes {
		ok := true
		if r != nil && r.Filter != "" {
			var err error
			if ok, err = r.Pass(in); err != nil {
				failed++
			}
		}
		if !ok {
			dropped++
			continue
		}
		kept = append(kept, ids[i])
	}
	return kept, dropped, failed
}

// Lookup returns an endpoint from the table, or from the loader when the
// table does not know it yet (created a moment ago by another instance).
func (t *Table) Lookup(ctx context.Context, id string) (*Route, error) {
	t.mu.RLock()
	r, ok := t.byID[id]
	t.mu.RUnlock()
	if ok {
		return r, nil
	}
	return t.fetch(ctx, id)
}

// Reload reads one endpoint from the loader, whatever the table holds.
func (t *Table) Reload(ctx context.Context, id string) (*Route, error) {
	return t.fetch(ctx, id)
}

// Counts returns how many endpoints the table holds in each state.
func (t *Table) Counts() map[string]int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]int{schema.EndpointEnabled: 0, schema.EndpointDisabled: 0}
	for _, r := range t.byID {
		out[r.State]++
	}
	return out
}

// Listener delivers change notifications: id of a changed endpoint, or ""
// when everything must be reloaded. It runs until ctx ends.
type Listener func(ctx context.Context, changed func(id string), onErr func(error))

// Run keeps the table fresh until ctx ends: it applies every change listen
// reports and reloads everything every interval as a safety net.
func (t *Table) Run(ctx context.Context, listen Listener, every time.Duration) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		listen(ctx, func(id string) {
			if err := t.Refresh(ctx, id); err != nil && ctx.Err() == nil {
				t.log.Warn("endpoint refresh failed", "endpoint_id", id, "err", err)
			}
		}, func(err error) {
			t.log.Warn("endpoint change feed interrupted", "err", err)
		})
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			if err := t.ReloadAll(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("endpoint reload failed", "err", err)
			}
		}
	}
}
