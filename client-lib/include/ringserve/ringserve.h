/* ringserve client library, C API: the same library as ringserve/client.h, for C and for
 * other languages' foreign-function interfaces.
 *
 *   rs_client* client = NULL;
 *   rs_stream* stream = NULL;
 *   rs_params params;
 *   rs_params_init(&params);
 *   if (rs_connect("default", &client) == RS_OK &&
 *       rs_generate(client, "Hello", 5, &params, &stream) == RS_OK) {
 *     rs_token token;
 *     rs_error e;
 *     while ((e = rs_stream_next(stream, -1, &token)) == RS_OK)
 *       fwrite(token.text, 1, token.text_length, stdout);
 *     if (e != RS_END_OF_STREAM) fprintf(stderr, "%s\n", rs_last_error_message());
 *   }
 *   rs_stream_close(stream);
 *   rs_disconnect(client);
 *
 * Every function returns an rs_error; on failure rs_last_error_message() gives a message for
 * the calling thread's last failed call. Thread-safety as in client.h: an rs_client may be
 * shared by threads; an rs_stream is used by one thread at a time (rs_stream_cancel excepted).
 */
#ifndef RINGSERVE_RINGSERVE_H_
#define RINGSERVE_RINGSERVE_H_

#include <stddef.h>
#include <stdint.h>

#if defined(RINGSERVE_BUILDING_CLIENT)
#define RS_EXPORT __attribute__((visibility("default")))
#else
#define RS_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Same values as ringserve::ErrorCode. */
typedef enum rs_error {
  RS_OK = 0,
  RS_END_OF_STREAM = 1,
  RS_DAEMON_NOT_RUNNING = 2,
  RS_DAEMON_GONE = 3,
  RS_VERSION_MISMATCH = 4,
  RS_PERMISSION_DENIED = 5,
  RS_QUEUE_FULL = 6,
  RS_PROMPT_TOO_LONG = 7,
  RS_INVALID_PARAMS = 8,
  RS_EMPTY_PROMPT = 9,
  RS_INVALID_UTF8 = 10,
  RS_SHUTTING_DOWN = 11,
  RS_TIMEOUT = 12,
  RS_PROTOCOL_ERROR = 13,
  RS_INVALID_ARGUMENT = 14,
  RS_INTERNAL = 15,
  RS_DAEMON_NOT_RESPONDING = 16 /* its process lives, its loop has not run for daemon_timeout */
} rs_error;

/* Same values as ringserve::FinishReason. */
typedef enum rs_finish_reason {
  RS_FINISH_NONE = 0,
  RS_FINISH_STOP = 1,
  RS_FINISH_LENGTH = 2,
  RS_FINISH_CANCELLED = 3,
  RS_FINISH_ERROR = 4,
  RS_FINISH_TIMEOUT = 5,
  RS_FINISH_REJECTED = 6
} rs_finish_reason;

typedef struct rs_client rs_client;
typedef struct rs_stream rs_stream;

/* Generation parameters; rs_params_init sets the defaults documented in client.h. */
typedef struct rs_params {
  uint32_t max_tokens;
  float temperature;
  float top_p;
  float min_p;
  float repetition_penalty;
  int32_t top_k;
  uint64_t seed;
  int32_t priority;
  uint32_t queue_timeout_ms;
  uint32_t total_timeout_ms;
  uint32_t stop_token_count; /* <= 8 */
  int32_t stop_token_ids[8];
  /* Stop strings: stop_count (<= 8) NUL-terminated UTF-8 strings of 1..64 bytes; may be NULL
     when stop_count is 0. The text before a stop string is delivered, the rest is not. */
  const char* const* stop;
  size_t stop_count;
} rs_params;

/* One chat turn for rs_chat; the daemon renders the turns with its chat template. */
typedef struct rs_message {
  const char* role; /* "system", "user" or "assistant" */
  const char* content;
  size_t content_length;
} rs_message;

typedef struct rs_token {
  int32_t id; /* -1: text without a token (held back for a stop string, released at the end) */
  const char* text; /* UTF-8, not NUL-terminated; valid until the next call on the stream */
  size_t text_length;
  uint64_t published_ns; /* CLOCK_MONOTONIC when the daemon published it */
} rs_token;

RS_EXPORT void rs_params_init(rs_params* params);

/* How to connect (ringserve::ConnectOptions); rs_connect_options_init sets the defaults. */
typedef struct rs_connect_options {
  int64_t ready_timeout_ms;  /* wait this long for a daemon that is still starting (2000) */
  const char* wait_mode;     /* NULL: the daemon's; else "spin", "futex" or "hybrid" */
  int64_t daemon_timeout_ms; /* a heartbeat older than this is RS_DAEMON_NOT_RESPONDING (3000);
                                0 = never */
  int64_t daemon_uid;        /* < 0: $RINGSERVE_DAEMON_UID (uid or user name), else none; >= 0:
                                the daemon's uid, trusted to own its segment besides this
                                process's uid and root */
} rs_connect_options;

RS_EXPORT void rs_connect_options_init(rs_connect_options* options);
/* options may be NULL (the defaults). */
RS_EXPORT rs_error rs_connect_with(const char* name, const rs_connect_options* options,
                                   rs_client** out);
/* ready_timeout_ms: how long to wait for a daemon that is still starting (<0: default 2000). */
RS_EXPORT rs_error rs_connect(const char* name, rs_client** out);
RS_EXPORT rs_error rs_connect_ex(const char* name, int64_t ready_timeout_ms, const char* wait_mode,
                                 rs_client** out);
RS_EXPORT void rs_disconnect(rs_client* client);

RS_EXPORT rs_error rs_generate(rs_client* client, const char* prompt, size_t prompt_length,
                               const rs_params* params, rs_stream** out);
RS_EXPORT rs_error rs_chat(rs_client* client, const rs_message* messages, size_t message_count,
                           const rs_params* params, rs_stream** out);

/* timeout_ms < 0 waits forever. RS_OK: *out holds a token. RS_END_OF_STREAM: finished. */
RS_EXPORT rs_error rs_stream_next(rs_stream* stream, int64_t timeout_ms, rs_token* out);
RS_EXPORT void rs_stream_cancel(rs_stream* stream);
RS_EXPORT rs_finish_reason rs_stream_finish_reason(const rs_stream* stream);
/* Cancels an unfinished request and frees the stream. NULL is allowed. */
RS_EXPORT void rs_stream_close(rs_stream* stream);
/* The request's prompt in tokens, and how many of them the daemon took from its prefix cache
 * instead of computing them (ringserve::RequestInfo::prompt_tokens, prompt_cached_tokens):
 * 0 and 0 until the request runs, final once the stream has ended. Either out pointer may be
 * NULL. */
RS_EXPORT rs_error rs_stream_prompt_tokens(const rs_stream* stream, uint32_t* prompt_tokens,
                                           uint32_t* cached_tokens);

/* Tokens of a text, as the daemon's tokenizer makes them (ringserve::Client::tokenize): ids[i]
 * and piece i, the bytes [piece_offsets[i], piece_offsets[i + 1]) of text (token i's text as
 * generation streams it: whole characters, so a token inside a character has an empty piece).
 * text holds the pieces back to back, NUL-terminated. Filled by rs_tokenize, freed with
 * rs_tokens_free (which leaves it zeroed). */
typedef struct rs_tokens {
  int32_t* ids;
  size_t count;
  char* text;
  size_t* piece_offsets; /* count + 1 entries */
} rs_tokens;
/* rs_tokenize's flags. */
#define RS_TOKENIZE_ADD_SPECIAL 1u /* also the special tokens (BOS) a prompt gets */
/* Blocks until the daemon answers (it does at intake, whatever its scheduler holds). text is
 * UTF-8, not empty; text spelling a special token becomes its id, as in a prompt. */
RS_EXPORT rs_error rs_tokenize(rs_client* client, const char* text, size_t text_length,
                               uint32_t flags, rs_tokens* out);
/* As rs_tokenize, for chat messages rendered with the daemon's chat template. */
RS_EXPORT rs_error rs_tokenize_chat(rs_client* client, const rs_message* messages,
                                    size_t message_count, uint32_t flags, rs_tokens* out);
RS_EXPORT void rs_tokens_free(rs_tokens* tokens);
/* The text of count (>= 1) token ids: *text (NUL-terminated UTF-8, free with rs_free) and its
 * length. An id outside the vocabulary is RS_INVALID_PARAMS, the message naming its index. */
RS_EXPORT rs_error rs_detokenize(rs_client* client, const int32_t* ids, size_t count, char** text,
                                 size_t* text_length);
/* Frees memory the library allocated for the caller (rs_detokenize's text). NULL is allowed. */
RS_EXPORT void rs_free(void* memory);

/* Daemon counters; fields as in ringserve::DaemonStatus. */
typedef struct rs_daemon_status {
  int32_t pid;
  uint32_t slots, slots_in_use, max_concurrent, max_queue, running, waiting;
  uint64_t received, admitted, rejected, completed, cancelled, failed, tokens_generated;
} rs_daemon_status;
RS_EXPORT rs_error rs_status(rs_client* client, rs_daemon_status* out);

/* What the daemon serves, and its memory; fields as in ringserve::ModelInfo, with
 * resident_bytes from ringserve::DaemonStatus. The texts are NUL-terminated, printable UTF-8
 * (the library replaces anything else the daemon's segment held with '?'). */
#define RS_MODEL_NAME_BYTES 16
#define RS_MODEL_PATH_BYTES 512
typedef struct rs_model_info {
  char path[RS_MODEL_PATH_BYTES]; /* the model's directory, "built-in", or "echo" */
  char architecture[RS_MODEL_NAME_BYTES];
  char format[RS_MODEL_NAME_BYTES];
  char device[RS_MODEL_NAME_BYTES];
  uint32_t context_length;
  uint64_t weight_bytes, kv_cache_bytes, resident_bytes;
} rs_model_info;
RS_EXPORT rs_error rs_model(rs_client* client, rs_model_info* out);

/* The daemon's paged KV cache and prefix cache; fields as in ringserve::KvCacheStatus, all 0
 * from a daemon without a model. The hit rate is prompt_tokens_cached / prompt_tokens. A struct
 * of its own (not fields added to rs_daemon_status) so that programs built against an older
 * header keep working with this library. */
typedef struct rs_kv_cache_status {
  uint32_t block_positions; /* positions per block */
  uint32_t blocks_total;
  uint32_t blocks_in_use;        /* held by running requests */
  uint32_t blocks_cached;        /* held by none, kept for their prefix; evicted for room */
  uint64_t prompt_tokens;        /* prompt tokens of every request started */
  uint64_t prompt_tokens_cached; /* of those, taken from the prefix cache */
  uint64_t preemptions;          /* requests that gave their blocks up mid-decode */
} rs_kv_cache_status;
RS_EXPORT rs_error rs_kv_cache(rs_client* client, rs_kv_cache_status* out);

RS_EXPORT const char* rs_error_name(rs_error error);
RS_EXPORT const char* rs_finish_reason_name(rs_finish_reason reason);
/* Message of the calling thread's last failed call; "" if none. */
RS_EXPORT const char* rs_last_error_message(void);

#ifdef __cplusplus
}
#endif

#endif /* RINGSERVE_RINGSERVE_H_ */
