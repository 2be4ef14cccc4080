// An offline provider that answers like a model and reports its token usage as API
// providers do (promptfoo's ProviderResponse: output, tokenUsage, cost).
class EchoModel {
  constructor(options) { this.providerId = options.id || 'echo'; this.config = options.config || {}; }
  id() { return this.providerId; }
  async callApi(prompt) {
    const words = prompt.split(/\s+/).length;
    const answer = this.config.good ? 'Paris' : 'London';
    await new Promise(r => setTimeout(r, 20 + words));
    return { output: answer, tokenUsage: { total: words * 2 + 3, prompt: words * 2, completion: 3, cached: 0, numRequests: 1 } };
  }
}
module.exports = EchoModel;
