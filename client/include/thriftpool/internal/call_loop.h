// RunCall: the retry rules that ThriftClientPool::Call and ServicePool::Call share: which failures
// discard the connection, which may be tried again, and which reach the caller.
#ifndef THRIFTPOOL_INTERNAL_CALL_LOOP_H_
#define THRIFTPOOL_INTERNAL_CALL_LOOP_H_

#include <thrift/TApplicationException.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace thriftpool::internal {

// How one attempt ended.
enum class AttemptOutcome {
  kOk,
  kDeclaredException,  // an exception the IDL declares: an answer, the stream is in sync
  kApplicationError,   // TApplicationException: an answer too
  kTransportError,     // TTransportException: the connection is discarded
  kProtocolError,      // TProtocolException (a sequence-id mismatch among them): discarded
  kOtherError,         // anything else fn threw: discarded, never retried
};

// Runs fn(client) until an attempt answers or may not be retried. `policy` supplies:
//   Acquire(bool fresh) -> a lease whose * is a PooledClient (fresh: a newly created connection);
//     a TTransportException it throws (a connect failure) goes to RetryAcquire.
//   bool RetryAcquire(int attempt): whether to try again after that connect failure.
//   void Finished(lease, AttemptOutcome, std::chrono::nanoseconds elapsed): accounting.
//   bool MayRetry(int attempt, bool safe): whether a failed attempt is tried again (`safe`: the
//     call is idempotent or nothing of it was sent).
//   int max_retries() const.
// A transport or protocol error is retried when safe; the last retry runs on a fresh connection.
// Answers (declared exceptions, TApplicationException) and other exceptions reach the caller.
template <class Client, class Policy, class Fn>
std::invoke_result_t<Fn&, Client&> RunCall(Policy& policy, Fn& fn, bool idempotent) {
  namespace at = apache::thrift;
  using Clock = std::chrono::steady_clock;
  for (int attempt = 0;; ++attempt) {
    const bool fresh = attempt > 0 && attempt == policy.max_retries();
    decltype(policy.Acquire(fresh)) lease;
    try {
      lease = policy.Acquire(fresh);
    } catch (const at::transport::TTransportException&) {
      if (!policy.RetryAcquire(attempt)) throw;
      continue;
    }
    const std::uint64_t sent_before = (*lease).connection().bytes_sent();
    const Clock::time_point start = Clock::now();
    const auto finish = [&](AttemptOutcome outcome) {
      policy.Finished(lease, outcome, Clock::now() - start);
    };
    try {
      Client& client = *lease;
      if constexpr (std::is_void_v<std::invoke_result_t<Fn&, Client&>>) {
        fn(client);
        finish(AttemptOutcome::kOk);
        return;
      } else {
        auto result = fn(client);
        finish(AttemptOutcome::kOk);
        return result;
      }
    } catch (const at::transport::TTransportException&) {
      lease.MarkBroken();
      finish(AttemptOutcome::kTransportError);
      const bool nothing_sent = (*lease).connection().bytes_sent() == sent_before;
      if (!policy.MayRetry(attempt, idempotent || nothing_sent)) throw;
    } catch (const at::protocol::TProtocolException&) {
      lease.MarkBroken();
      finish(AttemptOutcome::kProtocolError);
      if (!policy.MayRetry(attempt, idempotent)) throw;
    } catch (const at::TApplicationException&) {
      finish(AttemptOutcome::kApplicationError);
      throw;
    } catch (const at::TException& e) {
      if (typeid(e) != typeid(at::TException)) {
        finish(AttemptOutcome::kDeclaredException);
        throw;
      }
      // A bare TException is Thrift's parser failing on bytes it cannot type (TCompactProtocol's
      // "don't know what type"): the stream is out of step, like a TProtocolException, and the
      // caller gets one.
      lease.MarkBroken();
      finish(AttemptOutcome::kProtocolError);
      if (!policy.MayRetry(attempt, idempotent)) {
        throw at::protocol::TProtocolException(at::protocol::TProtocolException::INVALID_DATA,
                                               e.what());
      }
    } catch (...) {
      lease.MarkBroken();
      finish(AttemptOutcome::kOtherError);
      throw;
    }
  }
}

}  // namespace thriftpool::internal

#endif  // THRIFTPOOL_INTERNAL_CALL_LOOP_H_
