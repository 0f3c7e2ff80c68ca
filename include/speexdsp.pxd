# Extern declarations for libspeexdsp (Debian libspeexdsp-dev, headers in
# /usr/include/speex/). Declarations only; link with -lspeexdsp.
#
# Only the C API is declared here; the wrappers live in _media (the resampler
# is wrapped by _media.speexdsp_peer, used as a benchmark/reference peer).

from libc.stdint cimport int16_t, uint16_t, int32_t, uint32_t


cdef extern from "speex/speexdsp_types.h":
    ctypedef int16_t spx_int16_t
    ctypedef uint16_t spx_uint16_t
    ctypedef int32_t spx_int32_t
    ctypedef uint32_t spx_uint32_t


# ---------------------------------------------------------------------------
# Resampler (speex/speex_resampler.h)

cdef extern from "speex/speex_resampler.h" nogil:
    enum:
        SPEEX_RESAMPLER_QUALITY_MAX
        SPEEX_RESAMPLER_QUALITY_MIN
        SPEEX_RESAMPLER_QUALITY_DEFAULT
        SPEEX_RESAMPLER_QUALITY_VOIP
        SPEEX_RESAMPLER_QUALITY_DESKTOP

    enum:
        RESAMPLER_ERR_SUCCESS
        RESAMPLER_ERR_ALLOC_FAILED
        RESAMPLER_ERR_BAD_STATE
        RESAMPLER_ERR_INVALID_ARG
        RESAMPLER_ERR_PTR_OVERLAP
        RESAMPLER_ERR_OVERFLOW
        RESAMPLER_ERR_MAX_ERROR

    ctypedef struct SpeexResamplerState:
        pass

    SpeexResamplerState* speex_resampler_init(spx_uint32_t nb_channels,
                                              spx_uint32_t in_rate,
                                              spx_uint32_t out_rate,
                                              int quality,
                                              int* err)
    SpeexResamplerState* speex_resampler_init_frac(spx_uint32_t nb_channels,
                                                   spx_uint32_t ratio_num,
                                                   spx_uint32_t ratio_den,
                                                   spx_uint32_t in_rate,
                                                   spx_uint32_t out_rate,
                                                   int quality,
                                                   int* err)
    void speex_resampler_destroy(SpeexResamplerState* st)

    # in_len / out_len: in = available, out = consumed / written.
    int speex_resampler_process_float(SpeexResamplerState* st,
                                      spx_uint32_t channel_index,
                                      const float* inp,
                                      spx_uint32_t* in_len,
                                      float* out,
                                      spx_uint32_t* out_len)
    int speex_resampler_process_int(SpeexResamplerState* st,
                                    spx_uint32_t channel_index,
                                    const spx_int16_t* inp,
                                    spx_uint32_t* in_len,
                                    spx_int16_t* out,
                                    spx_uint32_t* out_len)
    int speex_resampler_process_interleaved_float(SpeexResamplerState* st,
                                                  const float* inp,
                                                  spx_uint32_t* in_len,
                                                  float* out,
                                                  spx_uint32_t* out_len)
    int speex_resampler_process_interleaved_int(SpeexResamplerState* st,
                                                const spx_int16_t* inp,
                                                spx_uint32_t* in_len,
                                                spx_int16_t* out,
                                                spx_uint32_t* out_len)

    int speex_resampler_set_rate(SpeexResamplerState* st,
                                 spx_uint32_t in_rate, spx_uint32_t out_rate)
    void speex_resampler_get_rate(SpeexResamplerState* st,
                                  spx_uint32_t* in_rate, spx_uint32_t* out_rate)
    int speex_resampler_set_rate_frac(SpeexResamplerState* st,
                                      spx_uint32_t ratio_num, spx_uint32_t ratio_den,
                                      spx_uint32_t in_rate, spx_uint32_t out_rate)
    void speex_resampler_get_ratio(SpeexResamplerState* st,
                                   spx_uint32_t* ratio_num, spx_uint32_t* ratio_den)
    int speex_resampler_set_quality(SpeexResamplerState* st, int quality)
    void speex_resampler_get_quality(SpeexResamplerState* st, int* quality)
    void speex_resampler_set_input_stride(SpeexResamplerState* st, spx_uint32_t stride)
    void speex_resampler_get_input_stride(SpeexResamplerState* st, spx_uint32_t* stride)
    void speex_resampler_set_output_stride(SpeexResamplerState* st, spx_uint32_t stride)
    void speex_resampler_get_output_stride(SpeexResamplerState* st, spx_uint32_t* stride)

    # Latencies are in samples of the input / output rate respectively.
    int speex_resampler_get_input_latency(SpeexResamplerState* st)
    int speex_resampler_get_output_latency(SpeexResamplerState* st)
    int speex_resampler_skip_zeros(SpeexResamplerState* st)
    int speex_resampler_reset_mem(SpeexResamplerState* st)
    const char* speex_resampler_strerror(int err)


# ---------------------------------------------------------------------------
# Adaptive jitter buffer (speex/speex_jitter.h)

cdef extern from "speex/speex_jitter.h" nogil:
    # Return codes of jitter_buffer_get / get_another / ctl
    enum:
        JITTER_BUFFER_OK
        JITTER_BUFFER_MISSING
        JITTER_BUFFER_INSERTION
        JITTER_BUFFER_INTERNAL_ERROR
        JITTER_BUFFER_BAD_ARGUMENT

    # jitter_buffer_ctl requests
    enum:
        JITTER_BUFFER_SET_MARGIN
        JITTER_BUFFER_GET_MARGIN
        JITTER_BUFFER_GET_AVAILABLE_COUNT
        JITTER_BUFFER_GET_AVALIABLE_COUNT  # (sic) legacy spelling in the header
        JITTER_BUFFER_SET_DESTROY_CALLBACK
        JITTER_BUFFER_GET_DESTROY_CALLBACK
        JITTER_BUFFER_SET_DELAY_STEP
        JITTER_BUFFER_GET_DELAY_STEP
        JITTER_BUFFER_SET_CONCEALMENT_SIZE
        JITTER_BUFFER_GET_CONCEALMENT_SIZE
        JITTER_BUFFER_SET_MAX_LATE_RATE
        JITTER_BUFFER_GET_MAX_LATE_RATE
        JITTER_BUFFER_SET_LATE_COST
        JITTER_BUFFER_GET_LATE_COST

    ctypedef struct JitterBuffer:
        pass

    ctypedef struct JitterBufferPacket:
        char* data               # packet bytes
        spx_uint32_t len         # length of data in bytes
        spx_uint32_t timestamp   # timestamp of the packet
        spx_uint32_t span        # time covered (timestamp units)
        spx_uint16_t sequence    # RTP sequence number if available (0 otherwise)
        spx_uint32_t user_data   # opaque, ignored by the jitter buffer

    JitterBuffer* jitter_buffer_init(int step_size)
    void jitter_buffer_reset(JitterBuffer* jitter)
    void jitter_buffer_destroy(JitterBuffer* jitter)
    void jitter_buffer_put(JitterBuffer* jitter, const JitterBufferPacket* packet)
    int jitter_buffer_get(JitterBuffer* jitter, JitterBufferPacket* packet,
                          spx_int32_t desired_span, spx_int32_t* start_offset)
    int jitter_buffer_get_another(JitterBuffer* jitter, JitterBufferPacket* packet)
    int jitter_buffer_get_pointer_timestamp(JitterBuffer* jitter)
    void jitter_buffer_tick(JitterBuffer* jitter)
    void jitter_buffer_remaining_span(JitterBuffer* jitter, spx_uint32_t rem)
    int jitter_buffer_ctl(JitterBuffer* jitter, int request, void* ptr)
    int jitter_buffer_update_delay(JitterBuffer* jitter, JitterBufferPacket* packet,
                                   spx_int32_t* start_offset)
