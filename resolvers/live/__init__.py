"""Live events for `Subscription.updateRequestEvents`: the process's hub (`hub`), the subscriber's
access re-checks and close codes (`access`), and the stream of one subscription (`stream`)."""
