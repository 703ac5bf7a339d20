using System.Runtime.CompilerServices;

// All P/Invokes are source-generated LibraryImports with blittable signatures.
[assembly: DisableRuntimeMarshalling]
