export function Header() {
  return (
    <header className="header">
      <h1>Mohawk Studio</h1>
      <p className="tagline">
        Distil a Transformer teacher into a Mamba-2 student, on your own GPU in this tab, with WebGPU. Nothing leaves the machine.
      </p>
    </header>
  );
}
