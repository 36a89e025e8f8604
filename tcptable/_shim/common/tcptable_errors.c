/*
 * tcptable_errors.c - how every unit reports a failure: the code, the OS error (errno or a
 * Win32 code) and a message, in the poller's (or the caller's) tcptable_status, which the
 * Python side turns into an exception.
 */
#if defined(_WIN32) && (!defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600)
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif

#include "tcptable_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#endif

static int fail_status_va(tcptable_status *status, int code, int os_error_kind,
                          uint32_t os_error, const char *format, va_list args)
{
    status->code = code;
    status->os_error_kind = os_error_kind;
    status->os_error = os_error;
    vsnprintf(status->message, sizeof(status->message), format, args);
    return code;
}

int tcptable_fail(tcptable_poller *poller, int code, int os_error_kind, uint32_t os_error,
                  const char *format, ...)
{
    va_list args;
    va_start(args, format);
    code = fail_status_va(&poller->status, code, os_error_kind, os_error, format, args);
    va_end(args);
    return code;
}

int tcptable_fail_status(tcptable_status *status, int code, int os_error_kind,
                         uint32_t os_error, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    code = fail_status_va(status, code, os_error_kind, os_error, format, args);
    va_end(args);
    return code;
}

int tcptable_fail_errno(tcptable_poller *poller, int err, const char *what)
{
    int code = (err == ENOMEM) ? TCPTABLE_ERR_NO_MEMORY : TCPTABLE_ERR_OS;
    return tcptable_fail(poller, code, TCPTABLE_OS_ERROR_ERRNO, (uint32_t)err, "%s: %s", what,
                         strerror(err));
}

int tcptable_fail_bad_data(tcptable_poller *poller, const char *format, ...)
{
    va_list args;
    int length;
    poller->status.code = TCPTABLE_ERR_BAD_DATA;
    poller->status.os_error_kind = TCPTABLE_OS_ERROR_ERRNO;
    poller->status.os_error = EBADMSG;
    va_start(args, format);
    length = vsnprintf(poller->status.message, sizeof(poller->status.message), format, args);
    va_end(args);
    /* The OS's text for the errno, as every errno message carries it. */
    if (length >= 0 && (size_t)length < sizeof(poller->status.message))
        snprintf(poller->status.message + length, sizeof(poller->status.message) - (size_t)length,
                 ": %s", strerror(EBADMSG));
    return TCPTABLE_ERR_BAD_DATA;
}

#ifdef _WIN32

/* FormatMessage's text for a Win32 code, as UTF-8 (the Python side decodes UTF-8; the ANSI
 * code page would garble a localised message), trailing line break and period removed. */
int tcptable_fail_win32(tcptable_poller *poller, int code, unsigned long error, const char *what)
{
    wchar_t wide[200];
    char text[200];
    int length = 0;
    DWORD wide_length = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                                       NULL, (DWORD)error, 0, wide,
                                       (DWORD)(sizeof(wide) / sizeof(wide[0])), NULL);
    if (wide_length > 0)
        length = WideCharToMultiByte(CP_UTF8, 0, wide, (int)wide_length, text,
                                     (int)sizeof(text) - 1, NULL, NULL);
    while (length > 0 && (text[length - 1] == '\r' || text[length - 1] == '\n' ||
                          text[length - 1] == ' ' || text[length - 1] == '.'))
        length--;
    text[length > 0 ? length : 0] = '\0';
    if (length <= 0)
        return tcptable_fail(poller, code, TCPTABLE_OS_ERROR_WIN32, (uint32_t)error,
                             "%s failed with error %lu (0x%08lX)", what, error, error);
    return tcptable_fail(poller, code, TCPTABLE_OS_ERROR_WIN32, (uint32_t)error,
                         "%s failed: %s (error %lu)", what, text, error);
}

#endif /* _WIN32 */
