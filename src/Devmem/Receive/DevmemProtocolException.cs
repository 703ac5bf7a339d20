namespace Devmem.Receive;

/// <summary>The kernel's answer did not have the layout the uapi headers define (a truncated or malformed control message).</summary>
public sealed class DevmemProtocolException : IOException
{
    /// <summary>Creates the exception.</summary>
    public DevmemProtocolException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public DevmemProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public DevmemProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
