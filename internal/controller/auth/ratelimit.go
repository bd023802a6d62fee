package auth

import (
	"sync"
	"time"
)

// limiter is a set of token buckets keyed by credential, bounded in size.
type limiter struct {
	rate, burst float64
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perSecond, burst float64) *limiter {
	return &limiter{rate: perSecond, burst: burst, buckets: map[string]*bucket{}}
}

// allow takes one token from key's bucket.
func (l *limiter) allow(key string, now time.Time) bool {
	wait, ok := l.reserve(key, now, 0)
	return ok && wait == 0
}

// reserve takes one token from key's bucket, borrowing it when the bucket
// is empty: the caller must then wait the returned time before acting, so
// a client over its rate is slowed, not refused. A borrow that would need
// a wait over maxWait is refused (false) and takes nothing.
func (l *limiter) reserve(key string, now time.Time, maxWait time.Duration) (time.Duration, bool) {
	if l == nil || l.rate <= 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	if wait > maxWait {
		return 0, false
	}
	b.tokens--
	return wait, true
}

func (l *limiter) bucket(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= 100000 {
			// Bounded memory: forget idle buckets (full ones carry no state).
			for k, ob := range l.buckets {
				if now.Sub(ob.last).Seconds()*l.rate >= l.burst {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	return b
}
