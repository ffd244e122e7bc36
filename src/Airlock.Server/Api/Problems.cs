using System.Text.Json;
using Airlock.Core;
using Airlock.Core.Control;
using Airlock.Core.Validation;

namespace Airlock.Server.Api;

/// <summary>Every error leaves the API as <c>application/problem+json</c> with a stable <c>code</c>.</summary>
public static class Problems
{
    public static Problem From(Exception e) => e switch
    {
        RequestBodyException r => new Problem
        {
            Title = "malformed request",
            Status = 400,
            Code = AirlockException.ErrorCodes.InvalidRequest,
            Detail = r.Message,
            Remedy = r.Remedy,
            Errors = r.Errors.Select(x => new ProblemField(x.Field, x.Reason)).ToList(),
        },
        ValidationException v => new Problem
        {
            Title = "invalid input",
            Status = 422,
            Code = "invalid",
            Detail = v.Message,
            Remedy = v.Remedy,
            Errors = v.Errors.Select(x => new ProblemField(x.Field, x.Reason)).ToList(),
        },
        AirlockException a => new Problem
        {
            Title = a.Code,
            Status = StatusOf(a.Code),
            Code = a.Code,
            Detail = a.Message,
            Remedy = a.Remedy,
        },
        BadHttpRequestException b => new Problem
        {
            Title = "bad request",
            Status = b.StatusCode,
            Code = b.StatusCode == 413 ? AirlockException.ErrorCodes.TooLarge : AirlockException.ErrorCodes.InvalidRequest,
            Detail = b.Message,
        },
        _ => new Problem { Title = "internal error", Status = 500, Code = "internal", Detail = e.Message, Remedy = "see the daemon's log; report it if it persists" },
    };

    public static int StatusOf(string code) => code switch
    {
        AirlockException.ErrorCodes.NotFound => 404,
        AirlockException.ErrorCodes.Conflict or AirlockException.ErrorCodes.Suspended or AirlockException.ErrorCodes.NotReady => 409,
        AirlockException.ErrorCodes.InvalidArgument or AirlockException.ErrorCodes.InvalidRequest or AirlockException.ErrorCodes.File => 400,
        AirlockException.ErrorCodes.InvalidTemplate => 422,
        AirlockException.ErrorCodes.TooLarge => 413,
        AirlockException.ErrorCodes.Unauthorized => 401,
        AirlockException.ErrorCodes.Forbidden => 403,
        AirlockException.ErrorCodes.RuntimeMissing or AirlockException.ErrorCodes.HostUnsupported => 503,
        _ => 500,
    };

    public static async Task WriteAsync(HttpContext ctx, Problem p, Stream? body = null)
    {
        ctx.Response.StatusCode = p.Status;
        ctx.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(body ?? ctx.Response.Body, p, ControlJson.Default.Problem).ConfigureAwait(false);
    }
}

/// <summary>A body that is not well-formed JSON of the endpoint's shape (syntax, unknown field, wrong type): 400.</summary>
public sealed class RequestBodyException(IReadOnlyList<ValidationError> errors) : ValidationException("request body", errors);
