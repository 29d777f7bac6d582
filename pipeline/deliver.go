package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/listener"
	"github.com/hookstream/hookstream/routing"
	"github.com/hookstream/hookstream/schema"
)

// Router finds the endpoint a task is for; routing.ErrUnknownEndpoint when
// it no longer exists. Reload skips the table and reads the endpoint again.
type Router interface {
	Lookup(ctx context.Context, id string) (*routing.Route, error)
	Reload(ctx context.Context, id string) (*routing.Route, error)
}

// Sender makes one HTTP attempt.
type Sender interface {
	Send(ctx context.Context, r delivery.Request) delivery.Result
}

// Deliverer makes the attempt a task asks for and decides what follows: an
// outcome in the attempts topic for every task, and after a failure the
// task of the next attempt in the next retry tier, or a dead letter once the
// tiers are exhausted. The first-attempt stage and every retry tier run the
// same Deliverer.
type Deliverer struct {
	Topics Topics
	Routes Router
	Sender Sender
	// Relay makes the attempts of listeners (endpoints of `hookstream
	// listen` streams), through the API instance holding the stream.
	Relay Sender
	// Jitter spreads each retry delay by ±Jitter (0.2 = ±20 %).
	Jitter float64
	// Limits caps each endpoint's attempts in flight.
	Limits *Limits
	// Bulk marks the deliverer of the bulk lane, whose attempts take at
	// most a share of the slots (see Limits).
	Bulk bool
	// Order is the ordering gate of endpoints that ask for ordered
	// delivery; nil sends every task unordered.
	Order OrderGate
	// Priority, on the fast lane's deliverer, hears how long each new task
	// waited between its dispatch and its turn; Yield paces the bulk
	// lane's (see Priority). Both may be nil.
	Priority *Priority
	Yield    *Lane
	// Tracer, when set, makes a client span of every attempt; without one,
	// a task's trace context is passed on to the webhook as it came.
	Tracer  trace.Tracer
	Metrics *Metrics
	Log     *slog.Logger
}

// Due is the consumer.Gate of the retry tiers: a task is due at the time in
// its HeaderDue header (unix milliseconds). A record without a readable
// header is due now (and fails decoding, if it is not a task).
func Due(r *kgo.Record) time.Time {
	for _, h := range r.Headers {
		if h.Key == schema.HeaderDue {
			ms, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil {
				return time.Time{}
			}
			return time.UnixMilli(ms)
		}
	}
	return time.Time{}
}

// Process is the consumer.ProcessFunc of the deliverer and the tiers: one
// task, its attempt, and what follows it. A record that is not a task this
// deployment could have made is poison (consumer.ErrPoison): it goes to the
// quarantine topic. It declines the task only when shutting down before
// the outcome is known, so that the task is read again rather than
// recorded half done.
func (d *Deliverer) Process(ctx context.Context, r *kgo.Record) ([]*kgo.Record, error) {
	task, err := schema.DecodeTask(r.Value)
	if err == nil {
		err = d.check(task)
	}
	if err != nil {
		return nil, consumer.Poison(err)
	}
	switch {
	case d.Bulk && d.Yield != nil:
		if err := d.Yield.Wait(ctx, 1, 0); err != nil {
			return nil, err // shutting down: the task is read again
		}
	case !d.Bulk && task.Attempt == 1 && task.Tier == 0:
		// A new task of the fast lane: stamped by our own producer.
		d.Priority.ObserveTenant(task.Event.Tenant, time.Since(r.Timestamp))
	}
	// base is ctx without this record's trace: the deliveries chained
	// after it belong to other events.
	base := ctx
	var at *attemptTrace
	if d.Tracer != nil || hasTrace(r) {
		// The task's trace context goes on to its next task, and the
		// attempt's (or the task's) to its outcome.
		if d.Tracer == nil {
			at = &attemptTrace{task: passOnRecord(r)}
		} else {
			ctx = extract(ctx, r)
			at = &attemptTrace{task: traceHeaders(ctx)}
		}
		ctx = context.WithValue(ctx, attemptTraceKey{}, at)
	}
	var out []*kgo.Record
	emit := func(rec *kgo.Record) { out = append(out, rec) }
	// The deliveries this task's chain releases are tagged with it: read
	// again after a crash, it alone releases them again.
	origin := schema.ReleaseTag(task.DeliveryID, task.Attempt)
	next, err := d.handleTask(ctx, r, task, false, origin, emit)
	if err != nil {
		return nil, err
	}
	traced := len(out)
	// The head of an ordering key was resolved and the next delivery of
	// its key released: it is handled here at once, and so on down the
	// key, up to maxChain deliveries, rather than through the released
	// topic (a produce and a fetch per delivery). Its row stays marked
	// released until it is resolved, so a crash before these outcomes are
	// stored releases the key's head again (see postgres.DB.AcquireOrdered).
	chained := 0
	for next != nil {
		if chained >= maxChain || ctx.Err() != nil {
			d.emitReleased(next, emit)
			break
		}
		t := *next
		chained++
		if next, err = d.handleTask(base, nil, t, true, origin, emit); err != nil {
			// Its outcome is unknown (shutting down): it goes through the
			// released topic again.
			d.emitReleased(&t, emit)
			next = nil
		}
	}
	if ctx.Err() != nil && chained == 0 {
		return nil, ctx.Err()
	}
	if at != nil {
		for _, rec := range out[:traced] {
			th := at.task
			if rec.Topic == d.Topics.Attempts() && at.attempt != nil {
				th = at.attempt
			}
			rec.Headers = withHeaders(rec.Headers, th)
		}
	}
	return out, nil
}

// check refuses a task no stage of this deployment makes: one whose tier
// is not in the schedule, whose event's id, tenant or type breaks the event
// rules, or whose delivery id is not that of its event and endpoint.
func (d *Deliverer) check(task schema.Task) error {
	if task.Tier < 0 || task.Tier > len(d.Topics.Schedule) {
		return fmt.Errorf("task: tier %d is not in the retry schedule (%d tiers)", task.Tier, len(d.Topics.Schedule))
	}
	// The data was validated whole by the dispatcher; scanning up to a
	// MiB again on every attempt would protect nothing (whoever can forge
	// a task can forge valid data).
	if err := task.Event.ValidateFields(); err != nil {
		return fmt.Errorf("task: event %w", err)
	}
	if task.DeliveryID != schema.DeliveryID(task.Event.Tenant, task.Event.ID, task.EndpointID) {
		return errors.New("task: delivery id does not match its tenant, event and endpoint")
	}
	return nil
}

// send makes the attempt on a slot acquired for it, and releases the slot
// whatever happens, a panic too: a slot lost would shrink the endpoint's
// window, and the process's, for good.
func (d *Deliverer) send(ctx context.Context, r *kgo.Record, task schema.Task, route *routing.Route, now time.Time) (res delivery.Result) {
	var seq int64
	var key string
	if task.Order != nil && route.Ordered() {
		seq, key = task.Order.Seq, task.Order.Key
	}
	d.Metrics.inFlight.Inc()
	defer func() {
		d.Metrics.inFlight.Dec()
		d.Limits.release(route.ID, res.Latency, res.ErrClass == delivery.ErrClassTimeout, d.Bulk)
	}()
	// r is nil for a released task handled in its key's chain.
	if r != nil && task.Tier > 0 {
		if due := Due(r); !due.IsZero() {
			d.Metrics.lateness.WithLabelValues(delivery.TierName(d.Topics.Delay(min(task.Tier, len(d.Topics.Schedule)) - 1))).
				Observe(max(0, now.Sub(due).Seconds()))
		}
	}
	sender, url := d.Sender, route.URL
	if route.Listener() {
		sender, url = d.Relay, listener.RelayURL(route.RelayURL, route.Tenant, route.ID)
	}
	p := payload(route.PayloadFormat, task.Event)
	ctx, span, traceparent, tracestate := startAttempt(ctx, d.Tracer, task, route.DisplayURL)
	defer func() { endAttempt(span, res) }()
	return sender.Send(ctx, delivery.Request{
		Traceparent:   traceparent,
		Tracestate:    tracestate,
		ID:            task.DeliveryID,
		EventID:       task.Event.ID,
		EventType:     task.Event.Type,
		Attempt:       task.Attempt,
		Timestamp:     now,
		Body:          p.Body,
		ContentType:   p.ContentType,
		FormatHeaders: p.Headers,
		URL:           url,
		Headers:       route.Headers,
		Keys:          route.Keys(now),
		Timeout:       route.Timeout,
		Sequence:      seq,
		OrderingKey:   key,
	})
}

// payload shapes an event in an endpoint's payload format. The data
// format (the default) costs nothing: the body is the event's data.
func payload(format string, ev schema.Event) delivery.Payload {
	if format == "" || format == schema.PayloadFormatData {
		return delivery.Payload{Body: ev.Data}
	}
	return delivery.Encode(format, routing.Message(ev))
}

// handleTask runs one task and emits its outcome and what follows. When the
// task was the head of its ordering key and resolving it released the next
// delivery of the key, it returns that delivery's task. released is true
// for a task its key's resolution just released to this process, which is
// the head of its key already. by
// tags what its resolution releases: the task read from Kafka that began
// the chain.
func (d *Deliverer) handleTask(ctx context.Context, r *kgo.Record, task schema.Task, released bool, by string, emit consumer.Emit) (*schema.Task, error) {
	route, err := d.Routes.Lookup(ctx, task.EndpointID)
	if err == nil && route.UpdatedAt.Before(task.EndpointVersion) {
		route, err = d.Routes.Reload(ctx, task.EndpointID)
	}
	if errors.Is(err, routing.ErrUnknownEndpoint) {
		d.outcome(task, schema.OutcomeDead, nil, "endpoint deleted", nil, emit)
		return nil, nil
	}
	if err != nil {
		// The endpoint is not in the table and its store did not answer:
		// wait in a tier without spending an attempt, rather than fail the
		// batch and send its other deliveries again.
		d.Log.Warn("endpoint lookup failed; delivery deferred", "delivery_id", task.DeliveryID,
			"endpoint_id", task.EndpointID, "err", err)
		d.postpone(task, "endpoint lookup failed", emit)
		return nil, nil
	}
	if route.Tenant != task.Event.Tenant {
		// A task naming another tenant's endpoint: never sent.
		return nil, consumer.Poison(fmt.Errorf("task: endpoint %s belongs to another tenant than event %s", task.EndpointID, task.Event.ID))
	}
	// A probe is sent although its endpoint is disabled, if the endpoint
	// still waits for one; to an endpoint enabled meanwhile it is an
	// ordinary task.
	probe := task.Probe && !route.Enabled()
	if probe && (!route.Probed() || route.Paused(time.Now())) {
		d.Metrics.probes.WithLabelValues("skipped").Inc()
		probe = false
	}
	task.Probe = probe
	if !route.Enabled() && !probe {
		d.outcome(task, schema.OutcomeParked, nil, "endpoint disabled", nil, emit)
		return nil, nil
	}
	if route.Paused(time.Now()) {
		// The receiver asked for a pause: park without spending an
		// attempt or counting a failure, as for a disabled endpoint; the
		// task is replayed when the pause ends.
		d.outcome(task, schema.OutcomeParked, nil, "endpoint paused", nil, emit)
		return nil, nil
	}
	// An ordered endpoint: the gate says whether the task is the head of
	// its key (docs/ordering.md). Asked before a slot is taken: a blocked
	// task never holds one.
	var gate schema.Gate
	if released && task.Order != nil {
		// Resolving the delivery before it made it the head, under the
		// key's lock: nothing else moves a head that is neither dead nor
		// parked (see postgres.DB.SkipOrdered).
		gate = schema.Gate{Verdict: schema.Head, Key: task.Order.Key, Seq: task.Order.Seq}
	} else if (route.Ordered() || task.Order != nil) && d.Order != nil {
		// A task with a place whose endpoint was made unordered since
		// asks too, while its key is kept (postgres.DB.ReleaseUnordered):
		// as the head it resolves its key and releases the next, which
		// nothing else would send if its task was lost in a crash.
		gate, err = d.Order.AcquireOrdered(ctx, task.EndpointID, task.DeliveryID, task.Order, task.Attempt, task.Tier)
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			d.Log.Warn("ordering gate failed; delivery deferred", "delivery_id", task.DeliveryID,
				"endpoint_id", task.EndpointID, "err", err)
			d.postpone(task, "ordering gate unavailable", emit)
			return nil, nil
		}
		if gate.Release != nil {
			d.Metrics.orderReleased.Inc()
			d.emitReleased(gate.Release, emit)
		}
		if gate.Verdict != schema.Unordered {
			task.Order = &schema.TaskOrder{Key: gate.Key, Seq: gate.Seq}
		}
		if gate.Verdict == schema.Blocked {
			d.Metrics.orderBlocked.Inc()
			d.emitAttempt(d.attempt(task, schema.OutcomeBlocked, nil, blockedText, nil, gate.WaitingFor), emit)
			return nil, nil
		}
	}
	// One endpoint's share of the attempts in flight is capped; a slow
	// endpoint at its cap has its tasks moved on to a retry tier, without
	// spending an attempt, instead of holding up everyone else's.
	switch d.Limits.acquire(ctx, route.ID, route.Timeout, d.Bulk) {
	case moveOn:
		d.Metrics.movedOn.Inc()
		d.postpone(task, "endpoint busy and slow: moved on to a retry tier", emit)
		return nil, nil
	case cancelled:
		return nil, context.Cause(ctx)
	}

	now := time.Now()
	res := d.send(ctx, r, task, route, now)
	if ctx.Err() != nil {
		return nil, context.Cause(ctx) // shutting down: the outcome is unknown, the task is read again
	}
	d.Metrics.observeAttempt(res)
	var errText string
	if res.Err != nil {
		errText = res.Err.Error()
	}
	if probe {
		// An ordered endpoint's probe passed the gate like any task: a
		// success resolves its key's head; a failure parks it, as a 410 does.
		if d.probed(task, &res, errText, emit) && gate.Verdict == schema.Head {
			return d.resolve(context.WithoutCancel(ctx), task, gate, false, by, emit)
		}
		return nil, nil
	}
	var final, dead bool // the head of its key reached its end: resolve it
	switch delivery.Classify(res) {
	case delivery.Succeeded:
		d.Metrics.observeDelivered(task.Event.CreatedAt)
		d.outcome(task, schema.OutcomeSucceeded, &res, errText, nil, emit)
		final = true
	case delivery.Gone:
		// The endpoint asked to be forgotten: the sink disables it, and
		// the delivery waits, parked, for it to be enabled again.
		d.outcome(task, schema.OutcomeParked, &res, errText, nil, emit)
	default:
		dead = d.retry(task, &res, errText, emit)
		final = dead
	}
	if final && gate.Verdict == schema.Head {
		// A key halts at a dead head only while its endpoint is ordered.
		halt := dead && route.Ordered() && route.DeadHead == schema.DeadHeadHalt
		return d.resolve(context.WithoutCancel(ctx), task, gate, halt, by, emit)
	}
	return nil, nil
}

// probed records a probe's outcome: succeeded (true: the sink re-enables
// the endpoint), or parked again, without a retry, until the next probe.
func (d *Deliverer) probed(task schema.Task, res *delivery.Result, errText string, emit consumer.Emit) bool {
	if delivery.Classify(*res) == delivery.Succeeded {
		d.Metrics.probes.WithLabelValues("succeeded").Inc()
		d.Metrics.observeDelivered(task.Event.CreatedAt)
		d.outcome(task, schema.OutcomeSucceeded, res, errText, nil, emit)
		return true
	}
	d.Metrics.probes.WithLabelValues("failed").Inc()
	if errText == "" {
		errText = "probe failed: HTTP " + strconv.Itoa(res.StatusCode)
	}
	d.outcome(task, schema.OutcomeParked, res, errText, nil, emit)
	return false
}

// retry schedules the next attempt in the next tier (later when the
// receiver asked with Retry-After), or dead-letters the task (true).
func (d *Deliverer) retry(task schema.Task, res *delivery.Result, errText string, emit consumer.Emit) (dead bool) {
	tier, ok := d.Topics.Schedule.TierForRetryAfter(task.Tier, res.RetryAfter)
	if !ok {
		reason := errText
		if res.StatusCode != 0 {
			reason = "HTTP " + strconv.Itoa(res.StatusCode)
		}
		b := schema.EncodeTask(task)
		d.Metrics.dead.Inc()
		emit(d.deadRecord([]byte(task.EndpointID), b, nil, "retries exhausted after attempt "+strconv.Itoa(task.Attempt)+": "+reason))
		d.outcome(task, schema.OutcomeDead, res, errText, nil, emit)
		return true
	}
	delay := delivery.Jitter(d.Topics.Delay(tier), d.Jitter, rand.Float64())
	// Retry-After is honoured up to the tier's own delay: a record due
	// later than its tier's usual would hold up every endpoint behind it
	// in the partition.
	if res.RetryAfter > delay {
		delay = min(res.RetryAfter, d.Topics.Delay(tier))
	}
	due := time.Now().Add(delay).Truncate(time.Millisecond)
	next := task
	next.Attempt++
	d.emitRetry(next, tier, due, emit)
	d.outcome(task, schema.OutcomeRetrying, res, errText, &due, emit)
	return false
}

// postpone puts the task, attempt number unchanged, in the tier it would wait
// in after a failure (the last one when it is past the schedule).
func (d *Deliverer) postpone(task schema.Task, reason string, emit consumer.Emit) {
	tier := min(task.Tier, len(d.Topics.Schedule)-1)
	due := time.Now().Add(delivery.Jitter(d.Topics.Delay(tier), d.Jitter, rand.Float64())).Truncate(time.Millisecond)
	d.emitRetry(task, tier, due, emit)
	d.outcome(task, schema.OutcomeRetrying, nil, reason, &due, emit)
}

func (d *Deliverer) emitRetry(task schema.Task, tier int, due time.Time, emit consumer.Emit) {
	task.Tier = tier + 1
	emit(&kgo.Record{
		Topic:   d.Topics.Retry(tier),
		Key:     []byte(task.EndpointID),
		Value:   schema.EncodeTask(task),
		Headers: []kgo.RecordHeader{{Key: schema.HeaderDue, Value: []byte(strconv.FormatInt(due.UnixMilli(), 10))}},
	})
}

// outcome emits the attempt record of a task; res is nil when nothing was
// sent.
func (d *Deliverer) outcome(task schema.Task, o schema.Outcome, res *delivery.Result, errText string, next *time.Time, emit consumer.Emit) {
	d.emitAttempt(d.attempt(task, o, res, errText, next, ""), emit)
}

// attempt is the attempt record of a task; waitingFor names the delivery a
// blocked one waits for.
func (d *Deliverer) attempt(task schema.Task, o schema.Outcome, res *delivery.Result, errText string, next *time.Time, waitingFor string) schema.Attempt {
	a := taskAttempt(task, o, schema.CleanText(errText), waitingFor, time.Now().UTC())
	a.NextAttemptAt = next
	if res != nil {
		a.Sent, a.Probe = true, task.Probe
		a.StatusCode = res.StatusCode
		a.LatencyMicros = res.Latency.Microseconds()
		a.ResponseBody, a.ResponseBase64 = schema.TextOrBase64(res.Body, res.Truncated)
		a.Truncated = res.Truncated
	}
	return a
}

// taskAttempt is the attempt record of a task with what every record of
// it says: its delivery, event, attempt number, outcome and, on an
// ordered endpoint, its key, number and the delivery it waits for.
func taskAttempt(task schema.Task, o schema.Outcome, errText, waitingFor string, at time.Time) schema.Attempt {
	a := schema.Attempt{
		V:              schema.Version,
		DeliveryID:     task.DeliveryID,
		EndpointID:     task.EndpointID,
		Tenant:         task.Event.Tenant,
		EventID:        task.Event.ID,
		EventType:      task.Event.Type,
		EventCreatedAt: task.Event.CreatedAt,
		Attempt:        task.Attempt,
		Outcome:        o,
		Error:          errText,
		At:             at,
	}
	if task.Order != nil {
		a.OrderingKey, a.Seq, a.WaitingFor = task.Order.Key, task.Order.Seq, waitingFor
	}
	return a
}

func (d *Deliverer) emitAttempt(a schema.Attempt, emit consumer.Emit) {
	o := a.Outcome
	d.Metrics.outcome(o)
	emit(&kgo.Record{Topic: d.Topics.Attempts(), Key: []byte(a.EndpointID), Value: schema.EncodeAttempt(a)})
	if d.Log.Enabled(context.Background(), slog.LevelDebug) {
		d.Log.Debug("attempt", "delivery_id", a.DeliveryID, "endpoint_id", a.EndpointID,
			"attempt", a.Attempt, "outcome", string(o), "status", a.StatusCode)
	}
}

func (d *Deliverer) deadRecord(key, value []byte, headers []kgo.RecordHeader, reason string) *kgo.Record {
	out := &kgo.Record{Topic: d.Topics.Dead(), Key: key, Value: value}
	for _, h := range headers {
		if h.Key != schema.HeaderDue {
			out.Headers = append(out.Headers, h)
		}
	}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: schema.HeaderError, Value: []byte(reason)})
	return out
}
