using Devmem.Hosting;
using Microsoft.Extensions.Options;

namespace Devmem.Samples.Receiver;

/// <summary>
/// The sample's own keys, bound from the same <c>Devmem</c> section as <see cref="DevmemReceiverOptions"/>
/// (whose binder ignores keys it does not know, as configuration binding does) and validated on start.
/// </summary>
internal sealed class ReceiverOptions
{
    /// <summary>The ncdevmem pattern's period (the kernel's <c>ncdevmem -v N</c>, 2–256); 0 turns validation off.</summary>
    public int ValidatePeriod { get; set; }
}

/// <summary>Says in words what is wrong with <see cref="ReceiverOptions"/>, as the library's validator does.</summary>
internal sealed class ReceiverOptionsValidator : IValidateOptions<ReceiverOptions>
{
    public ValidateOptionsResult Validate(string? name, ReceiverOptions options) =>
        options.ValidatePeriod is 0 or (>= 2 and <= 256)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{DevmemReceiverOptions.SectionName}:ValidatePeriod {options.ValidatePeriod} must be 0 (no validation) or a pattern period from 2 to 256, as ncdevmem -v N.");
}
